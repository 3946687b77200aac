"""Mach-O reader and a static dyld model: prove on any OS that a macOS env loads."""
