package dev.moemesh.core;
