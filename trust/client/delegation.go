package client

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"
)

// child is one delegation a role makes for a target path.
type child struct {
	name        string
	terminating bool
}

// matchPath reports whether a target path matches a delegated path
// pattern: shell-style wildcards per segment; "*" never crosses "/", so
// pattern and path must have the same number of segments.
func matchPath(pattern, target string) bool {
	ps, ts := strings.Split(pattern, "/"), strings.Split(target, "/")
	if len(ps) != len(ts) {
		return false
	}
	for i := range ps {
		if ok, err := path.Match(ps[i], ts[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

// matchHashPrefix reports whether the hex SHA-256 of the target path
// starts with one of prefixes.
func matchHashPrefix(prefixes []string, target string) bool {
	sum := sha256.Sum256([]byte(target))
	h := hex.EncodeToString(sum[:])
	return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(h, p) })
}

// binName returns the succinct hash bin (TAP 15) responsible for target:
// the first bit_length bits of SHA-256(target), as zero-padded hex after
// name_prefix and "-".
func (sr *succinctRoles) binName(target string) string {
	sum := sha256.Sum256([]byte(target))
	bin := binary.BigEndian.Uint32(sum[:4]) >> (32 - sr.BitLength)
	return sr.name(bin)
}

func (sr *succinctRoles) name(bin uint32) string {
	width := len(fmt.Sprintf("%x", uint64(1)<<sr.BitLength-1))
	return fmt.Sprintf("%s-%0*x", sr.NamePrefix, width, bin)
}

// isBin reports whether name is one of the bins.
func (sr *succinctRoles) isBin(name string) bool {
	width := len(fmt.Sprintf("%x", uint64(1)<<sr.BitLength-1))
	suffix, ok := strings.CutPrefix(name, sr.NamePrefix+"-")
	if !ok || len(suffix) != width {
		return false
	}
	var n uint64
	if _, err := fmt.Sscanf(suffix, "%x", &n); err != nil || fmt.Sprintf("%0*x", width, n) != suffix {
		return false
	}
	return n < uint64(1)<<sr.BitLength
}

// childrenFor lists, in order, the roles d delegates target to; all
// succinct bins are terminating.
func (d *delegations) childrenFor(target string) []child {
	if d == nil {
		return nil
	}
	if d.SuccinctRoles != nil {
		return []child{{d.SuccinctRoles.binName(target), true}}
	}
	var out []child
	for _, r := range d.Roles {
		ok := false
		switch {
		case len(r.Paths) > 0:
			ok = slices.ContainsFunc(r.Paths, func(p string) bool { return matchPath(p, target) })
		case len(r.PathHashPrefixes) > 0:
			ok = matchHashPrefix(r.PathHashPrefixes, target)
		}
		if ok {
			out = append(out, child{r.Name, r.Terminating})
		}
	}
	return out
}

// children lists every role d delegates to, in order, for enumeration
// (Components). Succinct hash bins are counted before any is named: a
// bit_length that makes more bins than limit (the roles the snapshot
// lists) or than binsCap is refused with a *DelegationError, so that a
// hostile bit_length of 32 costs nothing.
func (d *delegations) children(delegator string, limit int) ([]string, error) {
	if d == nil {
		return nil, nil
	}
	if sr := d.SuccinctRoles; sr != nil {
		n := uint64(1) << sr.BitLength // checkDelegations: 1 <= BitLength <= 32
		if n > uint64(min(limit, binsCap)) {
			return nil, &DelegationError{Role: sr.NamePrefix + "-*", Delegator: delegator,
				Reason: fmt.Sprintf("succinct_roles bit_length %d makes %d hash bins, more than the %d roles the snapshot lists (at most %d)",
					sr.BitLength, n, limit, binsCap)}
		}
		out := make([]string, n)
		for i := range out {
			out[i] = sr.name(uint32(i))
		}
		return out, nil
	}
	out := make([]string, len(d.Roles))
	for i, r := range d.Roles {
		out[i] = r.Name
	}
	return out, nil
}

// keysFor returns the keys and threshold delegator's metadata gives role.
func (d *delegations) keysFor(delegator, role string) (*roleKeys, error) {
	if d == nil {
		return nil, &DelegationError{Role: role, Delegator: delegator, Reason: "no delegations"}
	}
	if sr := d.SuccinctRoles; sr != nil {
		if !sr.isBin(role) {
			return nil, &DelegationError{Role: role, Delegator: delegator, Reason: "not one of the hash bins"}
		}
		return newRoleKeys(delegator, role, sr.KeyIDs, sr.Threshold, d.Keys)
	}
	for _, r := range d.Roles {
		if r.Name == role {
			return newRoleKeys(delegator, role, r.KeyIDs, r.Threshold, d.Keys)
		}
	}
	return nil, &DelegationError{Role: role, Delegator: delegator, Reason: "not delegated"}
}

// loader returns a verified role, delegated by delegator.
type loader func(ctx context.Context, role, delegator string) (*targetsFile, error)

// found is the result of a search: the entry and the chain of roles.
type found struct {
	path  string
	entry *targetEntry
	roles []string
	// private: nothing else holds entry (see targetsFile.find).
	private bool
}

// search is the pre-order depth-first search of 5.6.7 for target,
// starting at the top-level targets role. It visits at most maxRoles
// roles, skips roles visited before (cycles), and stops backtracking at
// a terminating delegation. It returns nil when no role lists target.
func search(ctx context.Context, target string, maxRoles int, load loader) (*found, error) {
	f, _, err := searchChain(ctx, target, maxRoles, load)
	return f, err
}

// searchChain is search; on failure it also returns the chain of roles
// from targets to the role that failed, that role included.
func searchChain(ctx context.Context, target string, maxRoles int, load loader) (*found, []string, error) {
	type frame struct {
		role  string
		chain []string
	}
	stack := []frame{{roleTargets, nil}}
	visited := map[string]bool{}
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		// 5.6.7.1: skip a role visited before; stop at the limit.
		if visited[f.role] {
			continue
		}
		chain := append(slices.Clip(f.chain), f.role)
		if len(visited) >= maxRoles {
			return nil, chain, &DelegationError{Role: f.role, Delegator: f.chain[len(f.chain)-1],
				Reason: fmt.Sprintf("search for %q visited the maximum of %d roles", target, maxRoles)}
		}
		delegator := roleRoot
		if len(f.chain) > 0 {
			delegator = f.chain[len(f.chain)-1]
		}
		tf, err := load(ctx, f.role, delegator)
		if err != nil {
			return nil, chain, err
		}
		e, delegs, err := tf.find(target)
		if err != nil {
			return nil, chain, err
		}
		if e != nil {
			// An entry of a file not decoded as a whole was decoded for
			// this look-up alone (find may have decoded it whole).
			return &found{path: target, entry: e, roles: chain, private: tf.signed == nil}, nil, nil
		}
		visited[f.role] = true
		// 5.6.7.2: the delegations in order of appearance; a terminating
		// one (5.6.7.2.2) ends the search after its subtree.
		var next []frame
		for _, c := range delegs.childrenFor(target) {
			next = append(next, frame{c.name, chain})
			if c.terminating {
				stack = stack[:0]
				break
			}
		}
		for i := len(next) - 1; i >= 0; i-- {
			stack = append(stack, next[i])
		}
	}
	return nil, nil, nil
}
