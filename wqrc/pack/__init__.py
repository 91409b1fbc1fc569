"""Packing pass: weight codes -> ROM words and the layer table."""
from wqrc.pack.files import write_rom_files
from wqrc.pack.rom import Rom, Segment, pack, pack_codes, unpack_codes, unpack_layer

__all__ = ["Rom", "Segment", "pack", "pack_codes", "unpack_codes", "unpack_layer", "write_rom_files"]
