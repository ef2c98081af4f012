jeff daniels played in the hawaii five - o episode the flight of the jewels
during the 2008 superleague formula season , beijing guoan was the pole position of a round 1 donington park race .
the irate man in the 1993 movie life with mikey was played by mandy patinkin .
reserved ( previously g721 ) has 1 channel and 8000 hz clock rate
blue spice is a family friendly chinese pub in riverside near the rainbow vegetarian café .
