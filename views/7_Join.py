"""Join: the page a phone opens from the room's QR code. One task: draw the digit asked, send it."""

from __future__ import annotations

import streamlit as st

from core.room.store import RoomRefused
from ui.room import hub, phone

st.html(phone.PHONE_CSS)
code = phone.code_from_url()
if not code:
    phone.ask_for_code(None)
    st.stop()
try:
    room = hub.store().check_code(code, hub.client_address())
except RoomRefused as exc:
    phone.ask_for_code(str(exc))
    st.stop()
phone.draw_for(room)
