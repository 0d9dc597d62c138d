package fleet

const childEnv = "BSI_FLEET_TEST_CHILD"

func childMain() int { return 0 }
