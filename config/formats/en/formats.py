# Dates and times as the desk shows them: with their zone, so nothing reads as a bare time.
DATETIME_FORMAT = "D d M Y H:i T"
SHORT_DATETIME_FORMAT = "D d M H:i T"
DATE_FORMAT = "D d M Y"
TIME_FORMAT = "H:i"
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
