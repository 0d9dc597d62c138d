package conformance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/bsiframework/bsi/trust"
	"github.com/bsiframework/bsi/trust/client"
)

// verifyChecks are the audit checks that decide, as a client would,
// whether a role's metadata can be used: the checks both verifiers make.
// Others (payloads, manifests, paths outside a delegation, hygiene) are
// the audit's own and have no counterpart in a client's verdict.
var verifyChecks = map[string]bool{
	"signature": true, "format": true, "version": true, "consistency": true, "hash": true, "snapshot": true,
}

// crossCheck verifies the repository a second time with the verifying
// core the devices run (trust/client: a refresh from the audit's trusted
// root, then Components, at the audit's time, in a temporary directory)
// and reports as verifier-disagreement every place where it and go-tuf
// (the walk) disagree on whether metadata is an attack. The device
// client stops at the first expired or unreachable top-level role; the
// components are then not compared. The error is for a temporary
// directory that cannot be made.
func (a *auditor) crossCheck(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "bsi-audit-client-")
	if err != nil {
		return fmt.Errorf("audit: device client: %w", err)
	}
	defer os.RemoveAll(dir)
	if err := client.Init(dir, a.o.Root, a.now); err != nil {
		a.compare("", "the trusted root", err)
		return nil
	}
	log := a.o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := client.New(client.Config{MetadataDir: dir, MetadataURL: a.o.URL, TargetsURL: a.o.TargetsURL,
		HTTPClient: a.o.HTTPClient, Now: func() time.Time { return a.now }, Logger: log})
	if err != nil {
		return fmt.Errorf("audit: device client: %w", err)
	}
	if err := c.Refresh(ctx); err != nil || ctx.Err() != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a.compare("", "the top-level roles (root, timestamp, snapshot, targets)", err)
		return nil
	}
	a.compare("", "the top-level roles (root, timestamp, snapshot, targets)", nil)
	comps, err := c.Components(ctx)
	if err != nil {
		return nil // the refresh succeeded: only a cancelled context fails here
	}
	for _, comp := range comps {
		if comp.Role == "targets" {
			continue
		}
		a.compare(comp.Role, "component "+comp.Role, comp.Err)
	}
	return nil
}

// topLevel are the roles of the top-level chain.
var topLevel = map[string]bool{"root": true, "timestamp": true, "snapshot": true, "targets": true}

// compare reports a disagreement between the device client's verdict
// clientErr on what (component comp, or the top-level chain when comp is
// "") and the security findings of the go-tuf walk on the same roles.
func (a *auditor) compare(comp, what string, clientErr error) {
	var goTUF *Finding
	for i, f := range a.rep.Findings {
		if f.Severity != SevSecurity || !verifyChecks[f.Check] {
			continue
		}
		if (comp == "" && topLevel[f.Role]) || (comp != "" && a.component[f.Role] == comp) {
			goTUF = &a.rep.Findings[i]
			break
		}
	}
	refuses := errors.Is(clientErr, trust.ErrSecurity)
	switch {
	case refuses && goTUF == nil:
		a.find(SevError, roleOr(comp), "verifier-disagreement",
			"bsi devices (trust/client) refuse %s and go-tuf accepts: %v", what, clientErr)
	case clientErr == nil && goTUF != nil:
		a.find(SevError, goTUF.Role, "verifier-disagreement",
			"go-tuf refuses %s (%s) and bsi devices (trust/client) accept", what, goTUF.Message)
	}
}

func roleOr(comp string) string {
	if comp == "" {
		return "targets"
	}
	return comp
}
