"""The room: phones join a presenter's room by a short code, draw digits for the model, and the
wall shows them. Codes and their rate limit (codes), the limits every room keeps (limits), the
rooms and their drawings on disk (store), the address a phone can reach (address) and the
room's scores (scores). A plain library: the pages are views/7_Join.py and views/8_Room.py."""
