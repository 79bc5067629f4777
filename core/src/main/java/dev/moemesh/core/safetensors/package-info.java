/** Reading and writing Hugging Face safetensors checkpoints: single files, shards and their index. */
package dev.moemesh.core.safetensors;
