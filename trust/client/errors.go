package client

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bsiframework/bsi/trust"
)

// Every error below carries the role (or target path), the versions and the
// keys involved. Security failures wrap trust.ErrSecurity, expiry wraps
// trust.ErrFreshness, and FetchError and NotFoundError wrap neither: they
// are operational.

// RollbackError reports metadata whose version went down (spec 5.3.4,
// 5.4.3, 5.5.5): the repository, or someone between it and us, is replaying
// older metadata. In names the role whose listing went down ("timestamp"
// for the snapshot version a timestamp lists); it is empty when Role's own
// version went down. Removed is set when a listing dropped Role entirely.
type RollbackError struct {
	Role    string
	In      string
	Trusted int64
	Got     int64
	Removed bool
}

func (e *RollbackError) Error() string {
	switch {
	case e.Removed:
		return fmt.Sprintf("%s: %s (trusted version %d) was removed from the listing", e.In, e.Role, e.Trusted)
	case e.In != "":
		return fmt.Sprintf("%s: version of %s %d is lower than trusted %d", e.In, e.Role, e.Got, e.Trusted)
	}
	return fmt.Sprintf("%s: version %d is lower than trusted %d", e.Role, e.Got, e.Trusted)
}

func (e *RollbackError) Unwrap() error { return trust.ErrSecurity }

// VersionError reports a version that is not the one the trusted chain
// names: a root that is not N+1 (5.3.4), a snapshot or targets file whose
// version differs from the listing (5.5.4, 5.6.4), or a version below 1.
type VersionError struct {
	Role string
	Want int64
	Got  int64
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("%s: version %d, but the trusted metadata says %d", e.Role, e.Got, e.Want)
}

func (e *VersionError) Unwrap() error { return trust.ErrSecurity }

// ExpiredError reports metadata whose expiry is not after the reference
// time: a possible freeze attack (5.3.10, 5.4.4, 5.5.6, 5.6.5).
type ExpiredError struct {
	Role    string
	Version int64
	Expires time.Time
	Now     time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("%s: version %d expired at %s (now %s)", e.Role, e.Version,
		e.Expires.UTC().Format(time.RFC3339), e.Now.UTC().Format(time.RFC3339))
}

func (e *ExpiredError) Unwrap() error { return trust.ErrFreshness }

// SignatureError reports metadata that lacks a threshold of valid
// signatures from distinct keys of the role (5.3.3, 5.4.2, 5.5.3, 5.6.3).
// Signer names the metadata whose keys were used ("root v3", "targets").
// KeyIDs lists the keys that signed validly; Have counts distinct keys.
// Unusable says which of the role's keys this client could not use and
// why (an unsupported scheme, a key not in PEM): such keys never count.
type SignatureError struct {
	Role      string
	Version   int64
	Signer    string
	Have      int
	Threshold int
	KeyIDs    []string
	Unusable  []string
}

func (e *SignatureError) Error() string {
	keys := "none"
	if len(e.KeyIDs) > 0 {
		short := make([]string, len(e.KeyIDs))
		for i, k := range e.KeyIDs {
			short[i] = k[:min(len(k), 12)]
		}
		keys = strings.Join(short, ", ")
	}
	msg := fmt.Sprintf("%s: version %d has %d of %d required signatures by keys of %s (valid: %s)",
		e.Role, e.Version, e.Have, e.Threshold, e.Signer, keys)
	if len(e.Unusable) > 0 {
		msg += "; " + strings.Join(e.Unusable, "; ")
	}
	return msg
}

func (e *SignatureError) Unwrap() error { return trust.ErrSecurity }

// DuplicateSignatureError reports metadata whose signatures array lists
// one key id more than once, which the specification forbids ("the keyid
// MUST be unique in the signatures array"): the file is refused whatever
// the signatures are worth, so that no count of signatures can depend on
// how duplicates are treated.
type DuplicateSignatureError struct {
	Role    string
	Version int64
	KeyID   string
}

func (e *DuplicateSignatureError) Error() string {
	return fmt.Sprintf("%s: version %d lists a signature by key id %s more than once", e.Role, e.Version, e.KeyID)
}

func (e *DuplicateSignatureError) Unwrap() error { return trust.ErrSecurity }

// HashError reports bytes whose hash differs from the one the trusted
// metadata lists. Name is a metadata file ("snapshot.json") or a target
// path.
type HashError struct {
	Name      string
	Algorithm string
	Want      string
	Got       string
}

func (e *HashError) Error() string {
	return fmt.Sprintf("%s: %s hash %s, but the trusted metadata says %s", e.Name, e.Algorithm, e.Got, e.Want)
}

func (e *HashError) Unwrap() error { return trust.ErrSecurity }

// LengthError reports bytes whose length differs from the trusted length,
// or a download that went past its limit (an endless-data attack); in that
// case Exceeded is set and Got is a lower bound.
type LengthError struct {
	Name     string
	Want     int64
	Got      int64
	Exceeded bool
}

func (e *LengthError) Error() string {
	if e.Exceeded {
		return fmt.Sprintf("%s: more than the %d bytes allowed", e.Name, e.Want)
	}
	return fmt.Sprintf("%s: %d bytes, but the trusted metadata says %d", e.Name, e.Got, e.Want)
}

func (e *LengthError) Unwrap() error { return trust.ErrSecurity }

// DelegationError reports a delegation that cannot be followed: a role the
// snapshot does not list, a delegation with a bad threshold or unknown
// keys, a delegated role named like a top-level role, or a search that
// visited more roles than allowed.
type DelegationError struct {
	Role      string
	Delegator string
	Reason    string
}

func (e *DelegationError) Error() string {
	if e.Delegator == "" {
		return fmt.Sprintf("delegation %s: %s", e.Role, e.Reason)
	}
	return fmt.Sprintf("delegation %s -> %s: %s", e.Delegator, e.Role, e.Reason)
}

func (e *DelegationError) Unwrap() error { return trust.ErrSecurity }

// FormatError reports metadata that does not decode, is of the wrong type,
// or is not canonical enough to verify. Nothing in it is trusted.
type FormatError struct {
	Role string
	Err  error
}

func (e *FormatError) Error() string { return fmt.Sprintf("%s: malformed metadata: %v", e.Role, e.Err) }

// Unwrap returns both the cause and trust.ErrSecurity.
func (e *FormatError) Unwrap() []error { return []error{e.Err, trust.ErrSecurity} }

// FetchError is an operational failure to fetch URL: a transport error,
// a bound of Network, a refused redirect or an HTTP status other than 200
// (StatusCode is set then, and Err is nil). Attempts counts the requests
// made (several when transient failures were retried); the error is the
// last one's:
//
//	fetch https://h/metadata/timestamp.json: 4 attempts, last: HTTP status 503 Service Unavailable
type FetchError struct {
	URL        string
	StatusCode int
	Attempts   int
	Err        error
}

func (e *FetchError) Error() string {
	// Download wraps a failed read of the body, itself a *FetchError for
	// the same URL: say it once.
	var inner *FetchError
	if errors.As(e.Err, &inner) && inner.URL == e.URL {
		return inner.Error()
	}
	cause := "HTTP status " + statusText(e.StatusCode)
	if e.Err != nil {
		cause = e.Err.Error()
	}
	if e.Attempts > 1 {
		return fmt.Sprintf("fetch %s: %d attempts, last: %s", e.URL, e.Attempts, cause)
	}
	return fmt.Sprintf("fetch %s: %s", e.URL, cause)
}

func (e *FetchError) Unwrap() error { return e.Err }

// RedirectError is a redirect the client refused (see Network): a loop,
// more than 5 redirects, another origin, or a downgrade from https to
// http. It comes wrapped in a *FetchError and is never retried.
type RedirectError struct {
	From, To string
	Reason   string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirect from %s to %s refused: %s", e.From, e.To, e.Reason)
}

// TimeoutError is an attempt cut by a bound of Network: no byte for the
// stall timeout (Stalled), or fewer bytes than the deadline allows for
// (request timeout plus one second per MinRate bytes). Bytes counts what
// had arrived; After is the time since the last byte (Stalled) or since
// the request started. It comes wrapped in a *FetchError.
type TimeoutError struct {
	Stalled bool
	After   time.Duration
	Bytes   int64
	Limit   time.Duration // the bound that was hit: the stall or request timeout
	MinRate int64
}

func (e *TimeoutError) Error() string {
	if e.Stalled {
		return fmt.Sprintf("stalled: no data for %v after %d bytes (stall timeout %v)", e.After.Round(time.Millisecond), e.Bytes, e.Limit)
	}
	return fmt.Sprintf("too slow: %d bytes in %v (request timeout %v plus 1 s per %d bytes)",
		e.Bytes, e.After.Round(time.Millisecond), e.Limit, e.MinRate)
}

// Timeout reports true, as net.Error does for timeouts.
func (e *TimeoutError) Timeout() bool { return true }

// TargetSizeError is Download refusing a target before any request: its
// signed length is over Limits.TargetMax (Max is set), or over the space
// available in Dir, the file system that would receive it (Available).
// It is operational: the metadata may be genuine, the device cannot take it.
type TargetSizeError struct {
	Path      string
	Length    int64
	Max       int64 // Limits.TargetMax, when that is the bound
	Dir       string
	Available int64 // bytes free in Dir, when that is the bound
}

func (e *TargetSizeError) Error() string {
	if e.Max > 0 {
		return fmt.Sprintf("target %q: length %d is over the limit of %d bytes (Limits.TargetMax)", e.Path, e.Length, e.Max)
	}
	return fmt.Sprintf("target %q: length %d, but only %d bytes are available in %s", e.Path, e.Length, e.Available, e.Dir)
}

// NotFoundError reports a target path that no role reachable by the
// delegation search lists.
type NotFoundError struct {
	Path string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("target %q: not listed by any trusted role", e.Path)
}

// ErrNotRefreshed is returned by methods that need a completed Refresh.
var ErrNotRefreshed = errors.New("client: no successful refresh yet")
