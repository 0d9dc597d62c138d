package client

import (
	"context"
	"slices"
)

// Component is the part of the verified metadata that one role delegated
// by targets is responsible for.
//
// TEMPORARY SHIM (branch h2-agent): the real Components, with
// per-component errors, comes from branch h1-client and replaces this
// file at merge.
type Component struct {
	// Role is the role targets delegates to ("webkit"), or "targets".
	Role string
	// Targets are the targets whose chain starts with Role, by path.
	Targets []*Target
	// Err is nil, or why this component's metadata could not be used.
	Err error
}

// Components groups Targets by the first delegated role of their chain.
// The shim never sets Component.Err: any failure is returned as err.
func (c *Client) Components(ctx context.Context) ([]Component, error) {
	ts, err := c.Targets(ctx)
	if err != nil {
		return nil, err
	}
	var out []Component
	for _, t := range ts {
		role := "targets"
		if len(t.Roles) > 1 {
			role = t.Roles[1]
		}
		i := slices.IndexFunc(out, func(x Component) bool { return x.Role == role })
		if i < 0 {
			out = append(out, Component{Role: role})
			i = len(out) - 1
		}
		out[i].Targets = append(out[i].Targets, t)
	}
	slices.SortStableFunc(out, func(x, y Component) int {
		switch {
		case x.Role == y.Role:
			return 0
		case x.Role == "targets":
			return -1
		case y.Role == "targets":
			return 1
		case x.Role < y.Role:
			return -1
		}
		return 1
	})
	return out, nil
}
