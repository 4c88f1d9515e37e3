"""Where each page's script lives: the one home of the paths that page links and st.switch_page use."""

DATA_PAGE = "views/1_Data.py"
BUILD_PAGE = "views/2_Build.py"
TRAIN_PAGE = "views/3_Train.py"
EVALUATE_PAGE = "views/4_Evaluate.py"
DRAW_PAGE = "views/5_Draw.py"
INSIDE_PAGE = "views/6_Inside.py"
JOIN_PAGE = "views/7_Join.py"  # a phone's page in a room: no sidebar, no navigation
ROOM_PAGE = "views/8_Room.py"  # the presenter's wall
