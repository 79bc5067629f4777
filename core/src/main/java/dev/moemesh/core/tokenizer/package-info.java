/** Text to token ids and back (Hugging Face tokenizer.json via DJL) and chat templates (Jinja via Jinjava). */
package dev.moemesh.core.tokenizer;
