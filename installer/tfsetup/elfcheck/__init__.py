"""ELF reader (reader.py) and a cheap static model of ld.so (ld.py): prove a Linux env from its bytes."""
