



blue spice , a kid - friendly pub near the rainbow vegetarian café in the riverside area , is a place where one can order chinese food .
