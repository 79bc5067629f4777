/** Conversions between the narrow floating-point formats checkpoints ship and Java {@code float}. */
package dev.moemesh.core.numeric;
