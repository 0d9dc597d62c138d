package demo

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/fleet"
	"github.com/bsiframework/bsi/install"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/rollout"
	"github.com/bsiframework/bsi/trust/repo"
)

// The staged rollout of webkit (b), the replacement of the withdrawn
// webkit (a): canary ring first, then 10% of a fleet of real agents over
// loopback, a halt when health checks fail, and finally a withdrawal.
const (
	rolloutID     = "webkit-26.3-b"
	rolloutStages = "canary:100%:1h,10%:1h,100%"
	// defaultFleet is the number of simulated devices; every tenth is in
	// the canary ring.
	defaultFleet = 100
	fleetWorkers = 8
)

// fleetDevice is one simulated device of the fleet.
type fleetDevice struct {
	state  string
	canary bool
}

// rolloutStory holds the fleet and what the steps observed.
type rolloutStory struct {
	fleet []fleetDevice
	// unhealthy counts the installs whose health check failed; every
	// second install on a device outside the canary ring fails.
	attempts, unhealthy atomic.Int64
	// kept is the fleet devices that had webkit (b) when it was halted.
	kept map[int]bool
	// The fleet collector the devices report to (SQLite in the demo
	// directory), at collectorURL.
	store        fleet.Store
	collector    *fleet.Collector
	collectorURL string
}

// watchPolicy is when the demo's watcher halts: more than 2% of at least
// 10 devices failed, as "bsi rollout watch --max-failure-rate 2%
// --min-devices 10" would.
var watchPolicy = fleet.HaltPolicy{MaxFailureRate: 0.02, MinDevices: 10}

// startCollector starts the fleet collector on loopback.
func (w *world) startCollector() error {
	st, err := fleet.Open(w.ctx, "sqlite:"+filepath.Join(w.dir, "fleet.db"))
	if err != nil {
		return err
	}
	c, err := fleet.New(fleet.Options{Store: st, Now: w.clock.Now, Logger: w.logger})
	if err != nil {
		st.Close()
		return err
	}
	w.ro.store, w.ro.collector = st, c
	w.ro.collectorURL, err = w.listen(c)
	return err
}

// closeCollector stops the collector, after the HTTP servers have closed.
func (ro *rolloutStory) closeCollector() {
	if ro.collector != nil {
		ro.collector.Close()
		ro.store.Close()
	}
}

func (w *world) rolloutSteps() []func() error {
	return []func() error{w.stepRolloutCanary, w.stepRolloutTenPercent, w.stepRolloutHalt, w.stepRolloutWithdraw}
}

// fleetHealth is the health check of fleet device i: it fails on every
// second install outside the canary ring, as a crash on some hardware
// would.
func (w *world) fleetHealth(canary bool) func(ctx context.Context, component, id, dir string) error {
	return func(ctx context.Context, component, id, dir string) error {
		if canary || id != rolloutID {
			return nil
		}
		if w.ro.attempts.Add(1)%2 == 0 {
			w.ro.unhealthy.Add(1)
			return errors.New("the browser crashed on launch")
		}
		return nil
	}
}

// convergeFleet converges every fleet device (fleetWorkers at a time) and
// returns which have webkit (b) afterwards.
func (w *world) convergeFleet() ([]bool, error) {
	has := make([]bool, len(w.ro.fleet))
	errs := make([]error, len(w.ro.fleet))
	work := make(chan int)
	var wg sync.WaitGroup
	for range fleetWorkers {
		wg.Go(func() {
			for i := range work {
				d := w.ro.fleet[i]
				a, err := agent.Open(w.ctx, agent.Options{State: d.state, Now: w.deviceNow, Logger: w.logger, Health: w.fleetHealth(d.canary)})
				if err != nil {
					errs[i] = err
					continue
				}
				rep, err := a.Check(w.ctx)
				if err == nil {
					_, err = a.Apply(w.ctx, rep, nil)
				}
				if err != nil && !errors.As(err, new(*install.HealthError)) {
					errs[i] = err
				}
				// The device's reports go to the collector after its work.
				if _, ferr := a.FlushReports(w.ctx, agent.DefaultFlushTimeout); ferr != nil && errs[i] == nil {
					errs[i] = ferr
				}
				has[i] = has1(a.Installed(), rolloutID)
				a.Close()
			}
		})
	}
	for i := range w.ro.fleet {
		work <- i
	}
	close(work)
	wg.Wait()
	// A failed health check is the expected outcome on unhealthy
	// devices: the switch was undone and the improvement declined.
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	return has, nil
}

func has1(in []agent.Installed, id string) bool { return has(in, id) }

func count(xs []bool) int {
	n := 0
	for _, x := range xs {
		if x {
			n++
		}
	}
	return n
}

// stepRolloutCanary publishes webkit (b) under a staged rollout, builds the
// fleet, and lets the canary ring (and this device) install it.
func (w *world) stepRolloutCanary() error {
	if err := w.add("webkit", release, "active"); err != nil {
		return err
	}
	keyPath := filepath.Join(w.dir, "keys", "rollout")
	priv, err := keys.Generate(keys.Ed25519)
	if err != nil {
		return err
	}
	if err := keys.WriteKeyPair(keyPath, priv, nil); err != nil {
		return err
	}
	if err := w.ws.EnableRollout(w.ctx, keyPath); err != nil {
		return err
	}
	stages, err := rollout.ParseStages(rolloutStages)
	if err != nil {
		return err
	}
	if _, err := w.ws.StartRollout(w.ctx, rolloutID, time.Time{}, stages); err != nil {
		return err
	}
	if _, err := w.republish("webkit", "targets"); err != nil {
		return err
	}
	if err := w.startCollector(); err != nil {
		return err
	}
	n := w.fleetSize
	w.ro.fleet = make([]fleetDevice, n)
	for i := range w.ro.fleet {
		d := &w.ro.fleet[i]
		d.canary = i%10 == 0
		if d.state, err = w.initDevice(fmt.Sprintf("fleet/%03d", i), w.url); err != nil {
			return err
		}
		if err := w.deviceDo(d.state, func(a *agent.Agent) error { return a.SetReportURL(w.ro.collectorURL) }); err != nil {
			return err
		}
		if d.canary {
			if err := w.deviceDo(d.state, func(a *agent.Agent) error { return a.SetRing("canary") }); err != nil {
				return err
			}
		}
	}
	if err := w.deviceDo(w.device, func(a *agent.Agent) error { return a.SetRing("canary") }); err != nil {
		return err
	}
	_, after, _, err := w.converge(w.device)
	if err != nil {
		return fmt.Errorf("device in the canary ring: %w", err)
	}
	has, err := w.convergeFleet()
	if err != nil {
		return err
	}
	ok := has1(after, rolloutID)
	canaries := 0
	for i, d := range w.ro.fleet {
		ok = ok && has[i] == d.canary
		if d.canary {
			canaries++
		}
	}
	w.emit(Event{Name: "rollout-canary", Actor: "publisher", OK: ok, Line: fmt.Sprintf(
		"the publisher released webkit (b) under a staged rollout signed by the online rollout key (%s: canary ring, then 10%% after 1h, everyone after 2h); this device and %d of %d fleet devices, the canary ring, installed it; the other %d wait for their stage",
		rolloutStages, count(has), n, n-canaries)})
	return nil
}

// stepRolloutTenPercent moves an hour on: each device whose bucket is below
// 10% installs webkit (b); on some the health check fails and the switch
// is undone.
func (w *world) stepRolloutTenPercent() error {
	w.clock.Advance(time.Hour)
	if _, err := w.ws.Refresh(w.ctx, w.dest, repo.RefreshOptions{}); err != nil {
		return err
	}
	has, err := w.convergeFleet()
	if err != nil {
		return err
	}
	w.ro.kept = map[int]bool{}
	for i, h := range has {
		if h {
			w.ro.kept[i] = true
		}
	}
	unhealthy := int(w.ro.unhealthy.Load())
	w.emit(Event{Name: "rollout-ten-percent", Actor: "device", OK: count(has) >= 1, Line: fmt.Sprintf(
		"an hour later the rollout reached 10%%: %d fleet devices now have webkit (b); on %d more the health check failed after the switch, so the agent switched back and declined it",
		count(has), unhealthy)})
	return nil
}

// publisherHalts halts the rollout of id by hand.
func (w *world) publisherHalts(id, reason string) error {
	if _, err := w.ws.HaltRollout(w.ctx, id, reason); err != nil {
		return err
	}
	_, err := w.republish()
	return err
}

// watcherHalts is "bsi rollout watch --once" on the demo's workspace: it
// reads the collector's statistics and halts (and publishes) every
// rollout whose failure rate passes watchPolicy. It returns the reason of
// the halt of id, "" when id was not halted.
func (w *world) watcherHalts(id string) (string, error) {
	stats, err := fleet.FetchStats(w.ctx, nil, w.ro.collectorURL)
	if err != nil {
		return "", err
	}
	all, err := w.ws.Rollouts(w.ctx)
	if err != nil {
		return "", err
	}
	var rs []fleet.Rollout
	for _, st := range all {
		rs = append(rs, fleet.Rollout{Component: st.Schedule.Component, ID: st.Schedule.ID, Halted: st.Schedule.Halted != nil})
	}
	reason := ""
	for _, d := range watchPolicy.Decide(stats, rs) {
		if !d.Halt {
			continue
		}
		if _, err := w.ws.HaltRollout(w.ctx, d.ID, d.Reason); err != nil {
			return "", err
		}
		if d.ID == id {
			reason = d.Reason
		}
	}
	if reason == "" {
		return "", nil
	}
	_, err = w.republish()
	return reason, err
}

// stepRolloutHalt halts webkit (b) and moves past the time it would reach
// every device: those that have it keep it, the others never get it.
func (w *world) stepRolloutHalt() error {
	reason, err := w.watcherHalts(rolloutID)
	if err != nil {
		return err
	}
	how := "the watcher (bsi rollout watch --max-failure-rate 2% --min-devices 10) halted the rollout by itself"
	if reason == "" {
		// A fleet too small for the watcher's minimum (the tests' 10
		// devices): the publisher halts by hand.
		reason = fmt.Sprintf("health checks failed on %d devices", w.ro.unhealthy.Load())
		if err := w.publisherHalts(rolloutID, reason); err != nil {
			return err
		}
		how = "too few devices reported for the watcher, so the publisher halted the rollout by hand"
	}
	w.clock.Advance(time.Hour)
	if _, err := w.ws.Refresh(w.ctx, w.dest, repo.RefreshOptions{}); err != nil {
		return err
	}
	has, err := w.convergeFleet()
	if err != nil {
		return err
	}
	ok := true
	for i, h := range has {
		ok = ok && h == w.ro.kept[i]
	}
	w.emit(Event{Name: "rollout-halt", Actor: "publisher", OK: ok, Line: fmt.Sprintf(
		"the fleet's reports reached the collector (bsi fleet serve); %s (%q), signed with the online rollout key; when 100%% would have come, the %d devices that have webkit (b) kept it (a halt never uninstalls) and the other %d did not install it",
		how, reason, count(has), len(has)-count(has))})
	return nil
}

// stepRolloutWithdraw withdraws webkit (b): every device rolls it back,
// whatever the rollout says.
func (w *world) stepRolloutWithdraw() error {
	if err := w.ws.Withdraw(w.ctx, rolloutID, "crashes the browser on some hardware"); err != nil {
		return err
	}
	if _, err := w.republish("webkit"); err != nil {
		return err
	}
	before := count(boolsOf(w.ro.kept, len(w.ro.fleet)))
	has, err := w.convergeFleet()
	if err != nil {
		return err
	}
	_, after, _, err := w.converge(w.device)
	if err != nil {
		return fmt.Errorf("device after the withdrawal of webkit (b): %w", err)
	}
	w.emit(Event{Name: "rollout-withdraw", Actor: "publisher", OK: count(has) == 0 && !has1(after, rolloutID), Line: fmt.Sprintf(
		"the publisher withdrew webkit (b); withdrawals are never gated by a rollout, so the %d fleet devices and this device rolled it back; none has it now",
		before)})
	return nil
}

func boolsOf(m map[int]bool, n int) []bool {
	out := make([]bool, n)
	for i := range out {
		out[i] = m[i]
	}
	return out
}
