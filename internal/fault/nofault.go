//go:build !bsifault

package fault

// Enabled reports whether this build injects faults (built with -tags bsifault).
const Enabled = false

// Point marks a place where a test build may kill the process; here it does
// nothing.
func Point(op string) {}

// Check marks a place where a test build may kill the process or return an
// injected error; here it returns nil.
func Check(op string) error { return nil }

// CheckPath is Check for an operation on the file path; here it returns nil.
func CheckPath(op, path string) error { return nil }
