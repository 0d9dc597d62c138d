package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/rollout"
)

// The rollout role (see package rollout) is a targets-type role that
// targets delegates with paths "rollout/*/*", signed by an online key that
// the publishing automation holds, like the snapshot and timestamp keys.
// Each gated improvement is one target "rollout/<component>/<id>.json":
// the canonical schedule, also in the target's custom field under
// "bsi_rollout". The schedule bytes go to the content store like payloads,
// so that Publish writes them under their hashes.
//
// The reference to the online rollout key is kept in DIR/rollout.json
// (workspace.json records only the keys that root lists). It is written
// before the delegation is committed, so that a crash leaves at worst a
// key reference without a delegation, which means "no rollout role" and is
// overwritten by the next EnableRollout.

const (
	rolloutConfigName   = "rollout.json"
	rolloutConfigFormat = "bsi.workspace-rollout/v1"
)

// ManualHold is how long a stage set by SetRollout holds before the
// rollout goes on to 100%: the longest hold a stage may have.
const ManualHold = rollout.MaxHold

type rolloutConfig struct {
	Format string    `json:"format"`
	Key    onlineKey `json:"key"`
}

// RolloutError is a rollout change the state of the improvement does not
// allow: no rollout role, no rollout to change, a halt of a halted one.
type RolloutError struct {
	ID     string // improvement id, "" for the role itself
	Reason string
}

func (e *RolloutError) Error() string {
	if e.ID == "" {
		return "rollout: " + e.Reason
	}
	return fmt.Sprintf("rollout of %s: %s", e.ID, e.Reason)
}

// RolloutEnabled reports whether targets delegates the rollout role.
func (w *Workspace) RolloutEnabled() (bool, error) {
	t, err := w.targetsRole(metadata.TARGETS)
	if err != nil {
		return false, err
	}
	if d := t.Signed.Delegations; d != nil {
		for _, r := range d.Roles {
			if r.Name == rollout.Role {
				return true, nil
			}
		}
	}
	return false, nil
}

// EnableRollout delegates the paths "rollout/*/*" from targets to a new
// rollout role signed by the online key ref (a private key file or a KMS
// URI, resolved with Options.LoadSigner now and at every rollout change).
// Targets is then pending until signed by its keys; the empty rollout
// role is signed right away. An enabled rollout gives a *RolloutError.
func (w *Workspace) EnableRollout(ctx context.Context, ref string) error {
	if ref == "" {
		return &RolloutError{Reason: "no online key for the rollout role"}
	}
	if on, err := w.RolloutEnabled(); err != nil {
		return err
	} else if on {
		return &RolloutError{Reason: "the rollout role is already delegated"}
	}
	k, err := loadOnlineKey(ctx, w.opts, ref)
	if err != nil {
		return fmt.Errorf("rollout key %s: %w", ref, err)
	}
	id, _ := k.ID()
	if err := w.writeRolloutConfig(onlineKey{Ref: ref, KeyID: id}); err != nil {
		return err
	}
	return w.mutate(func() error {
		if err := w.edit(metadata.TARGETS); err != nil {
			return err
		}
		t := w.targets[metadata.TARGETS]
		if t.Signed.Delegations == nil {
			t.Signed.Delegations = &metadata.Delegations{Keys: map[string]*metadata.Key{}}
		}
		d := t.Signed.Delegations
		d.Keys[id] = k
		d.Roles = append(d.Roles, metadata.DelegatedRole{Name: rollout.Role, KeyIDs: []string{id}, Threshold: 1,
			Terminating: true, Paths: []string{rollout.Role + "/*/*"}})
		w.newTargetsRole(rollout.Role)
		return w.signRollout(ctx, onlineKey{Ref: ref, KeyID: id})
	})
}

// RotateRolloutKey makes ref (a private key file or a KMS URI) the only
// key of the rollout role, as recovery from a lost or compromised online
// rollout key: targets lists the new key instead of the old ones (and is
// then pending until its keys sign it), and the rollout role is signed
// again with the new key. Running it again with the same key finishes an
// interrupted rotation.
func (w *Workspace) RotateRolloutKey(ctx context.Context, ref string) error {
	if on, err := w.RolloutEnabled(); err != nil {
		return err
	} else if !on {
		return &RolloutError{Reason: "the workspace has no rollout role (bsi rollout enable)"}
	}
	k, err := loadOnlineKey(ctx, w.opts, ref)
	if err != nil {
		return fmt.Errorf("rollout key %s: %w", ref, err)
	}
	id, _ := k.ID()
	key := onlineKey{Ref: ref, KeyID: id}
	err = w.mutate(func() error {
		if err := w.edit(metadata.TARGETS); err != nil {
			return err
		}
		d := w.targets[metadata.TARGETS].Signed.Delegations
		d.Keys[id] = k
		for i := range d.Roles {
			if d.Roles[i].Name == rollout.Role {
				d.Roles[i].KeyIDs, d.Roles[i].Threshold = []string{id}, 1
			}
		}
		pruneKeys(d)
		if err := w.edit(rollout.Role); err != nil {
			return err
		}
		return w.signRollout(ctx, key)
	})
	if err != nil {
		return err
	}
	// After the commit: a crash before this write leaves the old
	// reference, which the next rollout change reports; running
	// RotateRolloutKey again repairs it.
	return w.writeRolloutConfig(key)
}

func (w *Workspace) writeRolloutConfig(key onlineKey) error {
	data, err := json.MarshalIndent(rolloutConfig{Format: rolloutConfigFormat, Key: key}, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(w.path(rolloutConfigName), append(data, '\n'), 0o644)
}

// readRolloutConfig reads DIR/rollout.json.
func (w *Workspace) readRolloutConfig() (*rolloutConfig, error) {
	data, err := w.readFile(w.path(rolloutConfigName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &RolloutError{Reason: fmt.Sprintf("%s is missing: the online rollout key is unknown", rolloutConfigName)}
	}
	if err != nil {
		return nil, err
	}
	var c rolloutConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", rolloutConfigName, err)
	}
	if c.Format != rolloutConfigFormat {
		return nil, fmt.Errorf("%s: format %q, want %q", rolloutConfigName, c.Format, rolloutConfigFormat)
	}
	return &c, nil
}

// signRollout signs the rollout role with the online key in
// DIR/rollout.json.
func (w *Workspace) signRolloutConfigured(ctx context.Context) error {
	c, err := w.readRolloutConfig()
	if err != nil {
		return err
	}
	return w.signRollout(ctx, c.Key)
}

// signRollout signs the rollout role with an online key, which must be
// one of the role's keys.
func (w *Workspace) signRollout(ctx context.Context, key onlineKey) error {
	rk, err := w.keysFor(rollout.Role)
	if err != nil {
		return err
	}
	if !slices.Contains(rk.ids, key.KeyID) {
		return &RolloutError{Reason: fmt.Sprintf("the online key %s (%s) is not a key of the rollout role (bsi rollout rotate-key repairs it)", shortID(key.KeyID), key.Ref)}
	}
	if w.opts.LoadSigner == nil {
		return &RolloutError{Reason: "no signer loader for the online rollout key"}
	}
	s, err := w.opts.LoadSigner(ctx, key.Ref)
	if err != nil {
		return fmt.Errorf("rollout: loading online key %s: %w", key.Ref, err)
	}
	_, err = w.signRole(ctx, rollout.Role, s, []string{key.KeyID})
	return err
}

// RolloutState is one improvement's rollout as the workspace holds it,
// with its state at the workspace clock's time.
type RolloutState struct {
	Target   string            `json:"target"` // rollout/<component>/<id>.json
	Schedule *rollout.Schedule `json:"schedule"`
	Stages   string            `json:"stages"` // as bsi rollout start takes them
	Pending  bool              `json:"pending"`
	Started  bool              `json:"started"`
	Stage    int               `json:"stage"`   // 1-based; 0 before the start
	Percent  string            `json:"percent"` // of the current stage
	Rings    []string          `json:"rings,omitempty"`
	Complete bool              `json:"complete"` // at 100% of every device
	NextAt   *time.Time        `json:"next_stage_at,omitempty"`
	Halted   bool              `json:"halted"`
}

// Rollouts returns the rollout of every gated improvement, by target path;
// none when the rollout role is not delegated.
func (w *Workspace) Rollouts(ctx context.Context) ([]RolloutState, error) {
	if on, err := w.RolloutEnabled(); err != nil || !on {
		return nil, err
	}
	m, err := w.targetsRole(rollout.Role)
	if err != nil {
		return nil, err
	}
	var out []RolloutState
	for _, p := range sortedKeys(m.Signed.Targets) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := scheduleOf(p, m.Signed.Targets[p])
		if err != nil {
			return nil, err
		}
		out = append(out, w.rolloutState(p, s))
	}
	return out, nil
}

func scheduleOf(path string, tf *metadata.TargetFiles) (*rollout.Schedule, error) {
	if tf.Custom == nil {
		return nil, fmt.Errorf("%s: target %s: %w", rollout.Role, path, rollout.ErrNoSchedule)
	}
	s, err := rollout.FromCustom(*tf.Custom)
	if err != nil {
		return nil, fmt.Errorf("%s: target %s: %w", rollout.Role, path, err)
	}
	return s, nil
}

func (w *Workspace) rolloutState(path string, s *rollout.Schedule) RolloutState {
	d := rollout.Decide(s, rollout.Device{}, w.opts.Now())
	st := RolloutState{Target: path, Schedule: s, Stages: rollout.FormatStages(s.Stages), Pending: w.cfg.Edited[rollout.Role],
		Started: d.Started, Stage: d.Stage + 1, Halted: d.Halted, Rings: d.Rings,
		Complete: d.Started && d.Stage == len(s.Stages)-1}
	if d.Started {
		st.Percent = rollout.FormatPercent(d.BasisPoints)
	}
	if !d.NextAt.IsZero() {
		st.NextAt = &d.NextAt
	}
	return st
}

// StartRollout gates an active improvement by a new schedule: stages from
// start (the zero time means now). An unknown id gives an
// *ImprovementError; no rollout role, a withdrawn improvement or one
// already rolling out a *RolloutError; bad stages a *rollout.FieldError.
func (w *Workspace) StartRollout(ctx context.Context, id string, start time.Time, stages []rollout.Stage) (*RolloutState, error) {
	return w.changeRollout(ctx, id, func(imp *Improvement, cur *rollout.Schedule) (*rollout.Schedule, error) {
		if cur != nil {
			return nil, &RolloutError{ID: id, Reason: fmt.Sprintf("already rolling out (since %s, stages %s): change it with set, halt or resume",
				cur.Start.Format(time.RFC3339), rollout.FormatStages(cur.Stages))}
		}
		if start.IsZero() {
			start = w.now()
		}
		return &rollout.Schedule{Schema: rollout.Schema, Component: imp.Component, ID: imp.ID, Improvement: imp.Target,
			Start: start.UTC().Truncate(time.Second), Stages: stages}, nil
	})
}

// SetRollout takes manual control: from now the rollout reaches
// basisPoints of every device and holds there for ManualHold (or goes to
// 100% at once for 10000). The stages already reached stay, so no device
// loses the offer. A share below what the rollout already reaches gives a
// *rollout.FieldError; no rollout, or one already at 100%, a
// *RolloutError.
func (w *Workspace) SetRollout(ctx context.Context, id string, basisPoints int) (*RolloutState, error) {
	return w.changeRollout(ctx, id, func(imp *Improvement, cur *rollout.Schedule) (*rollout.Schedule, error) {
		if cur == nil {
			return nil, &RolloutError{ID: id, Reason: "is not rolling out (start it with bsi rollout start)"}
		}
		now := w.now()
		next := cur.Clone()
		c, ok := cur.Stage(now)
		var stages []rollout.Stage
		switch {
		case !ok:
			next.Start = now
		case c == len(cur.Stages)-1:
			return nil, &RolloutError{ID: id, Reason: fmt.Sprintf("already reaches 100%% of devices since %s (halt it to stop it)",
				cur.StageStart(c).Format(time.RFC3339))}
		default:
			// The current stage ends now (after a second at least: devices
			// may have been offered it in its first second).
			stages = next.Stages[:c+1]
			stages[c].HoldSeconds = max(1, int64(now.Sub(cur.StageStart(c))/time.Second))
		}
		if basisPoints < rollout.Full {
			stages = append(stages, rollout.Stage{BasisPoints: basisPoints, HoldSeconds: int64(ManualHold / time.Second)})
		}
		next.Stages = append(stages, rollout.Stage{BasisPoints: rollout.Full})
		return next, nil
	})
}

// HaltRollout stops a rollout: devices that have not installed the
// improvement are not offered it; none uninstalls it. No rollout, or one
// already halted, gives a *RolloutError.
func (w *Workspace) HaltRollout(ctx context.Context, id, reason string) (*RolloutState, error) {
	return w.changeRollout(ctx, id, func(imp *Improvement, cur *rollout.Schedule) (*rollout.Schedule, error) {
		switch {
		case cur == nil:
			return nil, &RolloutError{ID: id, Reason: "is not rolling out: there is nothing to halt (withdraw it to take it back)"}
		case cur.Halted != nil:
			return nil, &RolloutError{ID: id, Reason: fmt.Sprintf("is already halted since %s: %s", cur.Halted.At.Format(time.RFC3339), cur.Halted.Reason)}
		}
		next := cur.Clone()
		next.Halted = &rollout.Halt{At: w.now(), Reason: reason}
		return next, nil
	})
}

// ResumeRollout lifts a halt. The schedule's start moves later by the time
// the rollout stood halted, so that it resumes at the stage (and with the
// hold left) where it stopped. A rollout that is not halted gives a
// *RolloutError.
func (w *Workspace) ResumeRollout(ctx context.Context, id string) (*RolloutState, error) {
	return w.changeRollout(ctx, id, func(imp *Improvement, cur *rollout.Schedule) (*rollout.Schedule, error) {
		switch {
		case cur == nil:
			return nil, &RolloutError{ID: id, Reason: "is not rolling out"}
		case cur.Halted == nil:
			return nil, &RolloutError{ID: id, Reason: "is not halted"}
		}
		next := cur.Clone()
		if from := maxTime(cur.Halted.At, cur.Start); w.now().After(from) {
			next.Start = cur.Start.Add(w.now().Sub(from))
		}
		next.Halted = nil
		return next, nil
	})
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// changeRollout finds the improvement id and its current schedule (nil
// when it has none), lets change make the next one, and writes it as the
// target rollout/<component>/<id>.json of the rollout role, signed by the
// online rollout key, its bytes in the content store.
func (w *Workspace) changeRollout(ctx context.Context, id string, change func(*Improvement, *rollout.Schedule) (*rollout.Schedule, error)) (*RolloutState, error) {
	var state RolloutState
	err := w.mutate(func() error {
		if on, err := w.RolloutEnabled(); err != nil {
			return err
		} else if !on {
			return &RolloutError{ID: id, Reason: "the workspace has no rollout role (bsi rollout enable, or bsi repo init --rollout-key)"}
		}
		imp, err := w.findImprovement(id)
		if err != nil {
			return err
		}
		if imp == nil || imp.Manifest == nil {
			return &ImprovementError{ID: id, Reason: "not found"}
		}
		if imp.Manifest.Status != manifest.StatusActive {
			return &RolloutError{ID: id, Reason: "is withdrawn: a rollout only gates active improvements"}
		}
		path := rollout.TargetPath(imp.Component, imp.ID)
		m, err := w.targetsRole(rollout.Role)
		if err != nil {
			return err
		}
		var cur *rollout.Schedule
		if tf := m.Signed.Targets[path]; tf != nil {
			if cur, err = scheduleOf(path, tf); err != nil {
				return err
			}
		}
		next, err := change(imp, cur)
		if err != nil {
			return err
		}
		if err := w.putSchedule(path, next); err != nil {
			return err
		}
		state = w.rolloutState(path, next)
		state.Pending = true
		return w.signRolloutConfigured(ctx)
	})
	if err != nil {
		return nil, err
	}
	return &state, nil
}

// putSchedule validates s and lists it as target path of the rollout
// role, writing its bytes to the content store.
func (w *Workspace) putSchedule(path string, s *rollout.Schedule) error {
	data, err := s.Encode()
	if err != nil {
		return err
	}
	custom, err := s.Custom()
	if err != nil {
		return err
	}
	tf, err := metadata.TargetFile().FromBytes(path, data, w.Hashes()...)
	if err != nil {
		return err
	}
	tf.Custom = &custom
	// Content is named by its hash: written (durably) before the commit
	// that lists it, it is at worst an unused file after a crash.
	sum := w.path("content", fmt.Sprintf("%x", []byte(tf.Hashes["sha256"])))
	if _, err := os.Stat(sum); errors.Is(err, fs.ErrNotExist) {
		if err := writeFileAtomic(sum, data, 0o644); err != nil {
			return fmt.Errorf("content store: %w", err)
		}
	}
	if err := w.edit(rollout.Role); err != nil {
		return err
	}
	w.targets[rollout.Role].Signed.Targets[path] = tf
	w.changedTarget(rollout.Role, path)
	return nil
}
