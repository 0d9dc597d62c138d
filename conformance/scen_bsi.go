package conformance

func bsiScenarios() []Scenario { return nil }
