print("ropim")
