package repo

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// maxKeySourceLen bounds a recorded key source.
const maxKeySourceLen = 1024

// RecordKeySources records where keys came from, for Status: sources maps
// a key id to the file (made absolute by the caller) or KMS URI it was
// given as when added to a role or used to sign one. Only ids that some
// role of the workspace lists are kept; the latest source of an id
// replaces an earlier one. The workspace only reports these, it never
// loads a key from them (online keys are loaded from their own record).
//
// A source that is empty, longer than 1 KiB or holds a control character
// is an error, and nothing is recorded.
func (w *Workspace) RecordKeySources(ctx context.Context, sources map[string]string) error {
	for id, src := range sources {
		if src == "" || len(src) > maxKeySourceLen || strings.ContainsFunc(src, unicode.IsControl) {
			return fmt.Errorf("key source for %s: %q is not a file name or KMS URI", id, src)
		}
	}
	used, err := w.usedKeyIDs()
	if err != nil {
		return err
	}
	changed := false
	for _, id := range slices.Sorted(maps.Keys(sources)) {
		if used[id] && w.cfg.KeySources[id] != sources[id] {
			changed = true
		}
	}
	if !changed || ctx.Err() != nil {
		return ctx.Err()
	}
	return w.mutate(func() error {
		if w.cfg.KeySources == nil {
			w.cfg.KeySources = map[string]string{}
		}
		for id, src := range sources {
			if used[id] {
				w.cfg.KeySources[id] = src
			}
		}
		// Keys no role lists any more are forgotten.
		for id := range w.cfg.KeySources {
			if !used[id] {
				delete(w.cfg.KeySources, id)
			}
		}
		return nil
	})
}

// usedKeyIDs returns the ids of every key some role lists.
func (w *Workspace) usedKeyIDs() (map[string]bool, error) {
	names, err := w.roleNames()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, role := range names {
		rk, err := w.keysFor(role)
		if err != nil {
			return nil, err
		}
		for _, id := range rk.ids {
			used[id] = true
		}
	}
	return used, nil
}
