package trust

import "errors"

// Error classes. Every error that the trust packages return for a failed
// check wraps exactly one of these, so that callers (and the bsi command's
// exit codes) can tell an attack from an outage without parsing messages:
//
//	errors.Is(err, trust.ErrSecurity)  // exit 3: signature, threshold, rollback, hash, delegation
//	errors.Is(err, trust.ErrFreshness) // exit 4: expired metadata, a possible freeze attack
//
// Anything else (network, disk, configuration) is an operational failure.
var (
	// ErrSecurity marks a verification failure: a bad or missing signature,
	// an unmet threshold, a version that went down, a length or hash
	// mismatch, a role that signed outside its delegated paths, or a manifest
	// whose component differs from the role that signed it.
	ErrSecurity = errors.New("security verification failed")

	// ErrFreshness marks metadata that is expired at the reference time:
	// the repository may be frozen by an attacker, or simply not refreshed
	// by its publisher. Nothing may be installed on the strength of it.
	ErrFreshness = errors.New("metadata is not fresh")
)
