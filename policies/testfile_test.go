package policies

// ParseTestFile reads one file of test cases (as `linkd policy explain`
// and `diff` take them too).
func ParseTestFile(name string, data []byte) ([]TestCase, error) {
	cases, probs := parseTestFile(name, data)
	if len(probs) > 0 {
		return nil, probs
	}
	return cases, nil
}
