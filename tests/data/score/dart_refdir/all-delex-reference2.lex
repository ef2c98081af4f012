



blue spice is a family friendly pub serving chinese in riverside near the rainbow vegetarian café .
