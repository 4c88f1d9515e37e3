"""Room: the audience joins from their phones, draws for the model, and their digits fill the wall."""

from __future__ import annotations

import streamlit as st

from ui.room import hub, wall

st.title("Room")
st.html(wall.WALL_CSS)
room = hub.my_room()
if room is None:
    wall.offer_a_room()
    st.stop()
hub.keep_presenter_cookie()
hub.remember_presenter(room)  # the phones follow the trainings this session starts
room = wall.follow_active_model(room)
wall.live_wall(room.code)
