package demo

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/agent"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/serve"
	"github.com/bsiframework/bsi/trust/repo"
)

const (
	platform   = "macos"
	release    = "26.3"
	newRelease = "26.4"
)

// components are the demo platform's components, in publishing order.
var components = []string{"safari", "webkit", "libsystem"}

// world is everything the story acts on.
type world struct {
	ctx    context.Context
	dir    string
	clock  *clock
	logger *slog.Logger
	emit   func(Event)

	signers map[string]signature.Signer // by key name: root1, targets, webkit...
	ws      *repo.Workspace
	dest    repo.Destination
	public  string // published tree
	url     string // the repository as the device sees it (through the attacker)
	mitm    *attacker
	servers []*http.Server
	device  string // state directory
	seq     map[string]int
	broken  string        // Options.breakDefence
	lag     time.Duration // how far the device's clock is behind the demo clock
	// fleetSize is the number of simulated devices of the rollout story.
	fleetSize int
	ro        rolloutStory
	repoOpts  repo.Options
	tl        tlogStory
}

// deviceNow is the device's clock: the demo clock, unless a test broke the
// freeze defence.
func (w *world) deviceNow() time.Time { return w.clock.Now().Add(-w.lag) }

func (w *world) close() {
	for _, s := range w.servers {
		s.Close()
	}
	w.ro.closeCollector()
	if w.ws != nil {
		w.ws.Close()
	}
}

// story lists the steps in order.
func (w *world) story() []func() error {
	steps := []func() error{
		w.stepKeys,
		w.stepPublish,
		w.stepServe,
		w.stepDeviceInstall,
		w.stepRollbackAttack,
		w.stepFreezeAttack,
		w.stepTamperAttack,
		w.stepForeignComponentAttack,
		w.stepWrongRelease,
		w.stepWithdraw,
	}
	steps = append(append(steps, w.rolloutSteps()...), w.stepReleaseChange)
	return append(steps, w.transparencySteps()...)
}

// keyNames are the demo's keys: a 2-of-3 root, targets, the two online
// keys, and one key per component team.
var keyNames = append([]string{"root1", "root2", "root3", "targets", "snapshot", "timestamp"}, components...)

func (w *world) stepKeys() error {
	kdir := filepath.Join(w.dir, "keys")
	if err := os.MkdirAll(kdir, 0o700); err != nil {
		return err
	}
	w.signers = map[string]signature.Signer{}
	for _, name := range keyNames {
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			return err
		}
		// Unencrypted so that the demo asks for nothing; real keys are
		// written with a password ("bsi keys generate").
		path := filepath.Join(kdir, name)
		if err := keys.WriteKeyPair(path, priv, nil); err != nil {
			return err
		}
		s, err := keys.NewSigner(priv)
		if err != nil {
			return err
		}
		w.signers[name] = s
	}
	w.emit(Event{Name: "keys", Actor: "publisher", OK: true, Line: fmt.Sprintf(
		"generated %d ed25519 keys in %s: root (any 2 of 3 sign), targets, the online snapshot and timestamp keys, and one key per component team (%s)",
		len(keyNames), kdir, strings.Join(components, ", "))})
	return nil
}

// tufKeys returns the TUF keys of the named signers.
func (w *world) tufKeys(names ...string) ([]*metadata.Key, error) {
	var out []*metadata.Key
	for _, n := range names {
		pub, err := w.signers[n].PublicKey()
		if err != nil {
			return nil, err
		}
		k, err := keys.TUFKey(pub)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func (w *world) stepPublish() error {
	ctx := w.ctx
	rootKeys, err := w.tufKeys("root1", "root2", "root3")
	if err != nil {
		return err
	}
	targetsKeys, err := w.tufKeys("targets")
	if err != nil {
		return err
	}
	opts := repo.Options{
		Now:    w.clock.Now,
		Logger: w.logger,
		LoadSigner: func(ctx context.Context, ref string) (signature.Signer, error) {
			return keys.LoadSigner(ctx, ref, nil)
		},
	}
	w.repoOpts = opts
	w.ws, err = repo.Init(ctx, filepath.Join(w.dir, "workspace"), opts, repo.InitOptions{
		RootKeys: rootKeys, RootThreshold: 2,
		TargetsKeys:  targetsKeys,
		SnapshotKey:  filepath.Join(w.dir, "keys", "snapshot"),
		TimestampKey: filepath.Join(w.dir, "keys", "timestamp"),
	})
	if err != nil {
		return err
	}
	for _, c := range components {
		k, err := w.tufKeys(c)
		if err != nil {
			return err
		}
		if err := w.ws.Delegate(ctx, c, repo.DelegateOptions{Keys: k}); err != nil {
			return err
		}
	}
	w.seq = map[string]int{}
	for _, c := range components {
		if err := w.add(c, release, "active"); err != nil {
			return err
		}
	}
	// An offline ceremony: two of the three root holders sign.
	for _, k := range []string{"root1", "root2", "targets"} {
		if _, err := w.ws.Sign(ctx, w.signers[k]); err != nil {
			return fmt.Errorf("signing with %s: %w", k, err)
		}
	}
	w.public = filepath.Join(w.dir, "public")
	if w.dest, err = repo.DirDestination(w.public); err != nil {
		return err
	}
	res, err := w.ws.Publish(ctx, w.dest)
	if err != nil {
		return err
	}
	w.emit(Event{Name: "publish", Actor: "publisher", OK: true, Line: fmt.Sprintf(
		"published %s (a), webkit (a) and libsystem (a) for %s %s: root v1 signed by 2 of 3 root keys, each improvement signed by its team, %d files, timestamp v%d",
		"safari", platform, release, len(res.Written), res.TimestampVersion)})
	return nil
}

// add publishes-to-be the next improvement of component for rel, signed by
// the component's team.
func (w *world) add(component, rel string, status string) error {
	key := component + "@" + rel
	w.seq[key]++
	seq := w.seq[key]
	id := fmt.Sprintf("%s-%s-%s", component, rel, strings.Trim(manifest.SequenceLabel(seq), "()"))
	m := &manifest.Manifest{
		Schema:     manifest.Schema,
		ID:         id,
		Title:      fmt.Sprintf("%s security improvement %s", component, manifest.SequenceLabel(seq)),
		Platform:   platform,
		Component:  component,
		AppliesTo:  manifest.AppliesTo{Releases: []string{rel}},
		Sequence:   seq,
		Severity:   manifest.SeverityHigh,
		Advisories: []string{fmt.Sprintf("CVE-2026-%d", 40000+len(w.seq)*10+seq)},
		Released:   manifest.FormatTime(w.clock.Now()),
		Status:     manifest.Status(status),
	}
	mj, err := m.Encode()
	if err != nil {
		return err
	}
	payload := filepath.Join(w.dir, "payloads", id+".tar.gz")
	if err := writePayload(payload, component, id); err != nil {
		return err
	}
	_, err = w.ws.Add(w.ctx, repo.AddRequest{Manifest: mj, Payload: payload, Signers: []signature.Signer{w.signers[component]}})
	return err
}

// writePayload writes a small real archive: the patched files of an
// improvement.
func writePayload(path, component, id string) error {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	files := map[string]string{
		"README":                            fmt.Sprintf("%s: background security improvement %s\n", component, id),
		"lib/" + component + ".patch.dylib": strings.Repeat(id+" ", 64),
	}
	for _, name := range []string{"README", "lib/" + component + ".patch.dylib"} {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// republish signs what changed with the given keys and publishes.
func (w *world) republish(signers ...string) (*repo.PublishResult, error) {
	for _, k := range signers {
		if _, err := w.ws.Sign(w.ctx, w.signers[k]); err != nil {
			return nil, fmt.Errorf("signing with %s: %w", k, err)
		}
	}
	return w.ws.Publish(w.ctx, w.dest)
}

// listen serves h on a free loopback port and returns its URL.
func (w *world) listen(h http.Handler) (string, error) {
	ln, err := (&net.ListenConfig{}).Listen(w.ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	w.servers = append(w.servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

func (w *world) stepServe() error {
	h, err := serve.NewHandler(w.public, w.logger)
	if err != nil {
		return err
	}
	w.mitm = &attacker{next: h, public: w.public}
	if w.url, err = w.listen(w.mitm); err != nil {
		return err
	}
	w.emit(Event{Name: "serve", Actor: "publisher", OK: true, Line: fmt.Sprintf(
		"serving the published tree at %s (bsi serve), with an attacker able to sit in between", w.url)})
	return nil
}

// attacker sits between the device and the repository. By default it
// passes everything through.
type attacker struct {
	next   http.Handler
	public string

	mu        sync.Mutex
	timestamp []byte       // served instead of timestamp.json when set
	tamper    bool         // flip a byte of every payload
	via       http.Handler // serves every request instead of next when set
}

// redirect makes the attacker serve everything from h (nil: stop).
func (a *attacker) redirect(h http.Handler) {
	a.mu.Lock()
	a.via = h
	a.mu.Unlock()
}

func (a *attacker) set(timestamp []byte, tamper bool) {
	a.mu.Lock()
	a.timestamp, a.tamper = timestamp, tamper
	a.mu.Unlock()
}

func (a *attacker) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	ts, tamper, via := a.timestamp, a.tamper, a.via
	a.mu.Unlock()
	switch {
	case via != nil:
		via.ServeHTTP(rw, r)
	case ts != nil && r.URL.Path == "/timestamp.json":
		rw.Header().Set("Content-Type", "application/json")
		rw.Write(ts)
	case tamper && strings.HasPrefix(r.URL.Path, "/targets/"):
		name := filepath.Join(a.public, filepath.FromSlash(strings.TrimPrefix(r.URL.Path, "/")))
		b, err := os.ReadFile(name)
		if err != nil || len(b) == 0 || strings.Contains(r.URL.Path, "..") {
			http.NotFound(rw, r)
			return
		}
		b[len(b)/2] ^= 0x20 // one bit, in the middle of the archive
		rw.Write(b)
	default:
		a.next.ServeHTTP(rw, r)
	}
}

// deviceDo opens the main device's agent, runs f and closes it.
func (w *world) deviceDo(state string, f func(a *agent.Agent) error) error {
	a, err := agent.Open(w.ctx, agent.Options{State: state, Now: w.deviceNow, Logger: w.logger})
	if err != nil {
		return err
	}
	defer a.Close()
	return f(a)
}

// converge checks and installs what the device should have. It returns what
// is installed before and after, and the check's or apply's error.
func (w *world) converge(state string) (before, after []agent.Installed, rep *agent.Report, err error) {
	err = w.deviceDo(state, func(a *agent.Agent) error {
		before = a.Installed()
		var cerr error
		defer func() { after = a.Installed() }()
		if rep, cerr = a.Check(w.ctx); cerr != nil {
			return cerr
		}
		res, aerr := a.Apply(w.ctx, rep, nil)
		if aerr != nil {
			return aerr
		}
		if len(res.Failed) > 0 {
			return res.Failed[0].Err
		}
		return nil
	})
	return before, after, rep, err
}

func (w *world) initDevice(name, url string) (string, error) {
	root, err := os.ReadFile(filepath.Join(w.public, "1.root.json"))
	if err != nil {
		return "", err
	}
	state := filepath.Join(w.dir, name)
	err = agent.Init(state, root, agent.Config{
		Platform: platform, Release: release, MetadataURL: url,
		InstallRoot: filepath.Join(state, "root"),
	}, w.clock.Now())
	return state, err
}

func (w *world) stepDeviceInstall() error {
	var err error
	if w.device, err = w.initDevice("device", w.url); err != nil {
		return err
	}
	_, after, _, err := w.converge(w.device)
	if err != nil {
		return err
	}
	ev := Event{Name: "install", Actor: "device", OK: len(after) == len(components)}
	ev.Line = fmt.Sprintf("device %s %s verified root → timestamp → snapshot → targets → component roles and installed %s", platform, release, labels(after))
	if cur, err := os.Readlink(filepath.Join(w.device, "root", "webkit", "current")); err == nil {
		ev.Line += fmt.Sprintf("; webkit/current → %s", cur)
	}
	w.emit(ev)
	return nil
}

func (w *world) stepRollbackAttack() error {
	old, err := os.ReadFile(filepath.Join(w.public, "timestamp.json"))
	if err != nil {
		return err
	}
	// The publisher's daily refresh: timestamp v2. The device takes it.
	w.clock.Advance(2 * time.Hour)
	if _, err := w.ws.Refresh(w.ctx, w.dest, repo.RefreshOptions{}); err != nil {
		return err
	}
	if _, _, _, err := w.converge(w.device); err != nil {
		return fmt.Errorf("device after the timestamp refresh: %w", err)
	}
	// The attacker replays the older, validly signed timestamp v1.
	w.mitm.set(old, false)
	if w.broken == "rollback" {
		if err := os.Remove(filepath.Join(w.device, "metadata", "timestamp.json")); err != nil {
			return err
		}
	}
	before, after, _, err := w.converge(w.device)
	w.mitm.set(nil, false)
	w.emit(stopped("attack-rollback",
		"an attacker replayed the older timestamp v1 (validly signed, not yet expired) after the device had seen v2; versions never go down, so the device refused it and kept what it trusted",
		err, "security", before, after))
	return nil
}

func (w *world) stepFreezeAttack() error {
	// The attacker freezes the repository: it keeps serving today's
	// timestamp while the publisher's newer ones are withheld, and time
	// moves on past its one-day expiry.
	current, err := os.ReadFile(filepath.Join(w.public, "timestamp.json"))
	if err != nil {
		return err
	}
	w.mitm.set(current, false)
	w.clock.Advance(25 * time.Hour)
	if _, err := w.ws.Refresh(w.ctx, w.dest, repo.RefreshOptions{}); err != nil {
		return err
	}
	if w.broken == "freeze" {
		w.lag = 24 * time.Hour
	}
	before, after, _, err := w.converge(w.device)
	w.lag = 0
	w.mitm.set(nil, false)
	w.emit(stopped("attack-freeze",
		"an attacker froze the repository, serving a timestamp past its 1-day expiry; expired metadata is never trusted, so the device installed nothing and said so",
		err, "freshness", before, after))
	// The attacker goes away: the device catches up with the fresh timestamp.
	if _, _, _, err := w.converge(w.device); err != nil {
		return fmt.Errorf("device after the freeze ended: %w", err)
	}
	return nil
}

func (w *world) stepTamperAttack() error {
	if err := w.add("safari", release, "active"); err != nil {
		return err
	}
	if _, err := w.republish("safari"); err != nil {
		return err
	}
	w.mitm.set(nil, w.broken != "tamper")
	before, after, _, err := w.converge(w.device)
	w.mitm.set(nil, false)
	w.emit(stopped("attack-tamper",
		"the publisher released safari (b); an attacker flipped one bit of its payload in flight; length and hashes are checked before anything is written, so nothing was installed",
		err, "security", before, after))
	_, after, _, err = w.converge(w.device)
	if err != nil {
		return fmt.Errorf("device after the tampering ended: %w", err)
	}
	ok := false
	for _, in := range after {
		ok = ok || in.ID == "safari-26.3-b"
	}
	w.emit(Event{Name: "install-genuine", Actor: "device", OK: ok, Line: "with the attacker gone, the device downloaded the genuine payload and installed " + labels(after)})
	return nil
}

func (w *world) stepForeignComponentAttack() error {
	forged, err := w.forgeWebkit()
	if err != nil {
		return err
	}
	url, err := w.listen(forged)
	if err != nil {
		return err
	}
	victim, err := w.initDevice("device-2", url)
	if err != nil {
		return err
	}
	before, after, rep, err := w.converge(victim)
	ev := stopped("attack-foreign-component",
		"a compromised webkit team key signed safari/safari-26.3-z.tar.gz and a webkit target whose manifest claims component safari; webkit is only trusted for webkit/*, so a second device never saw the first and refused the second",
		err, "security", before, after)
	if rep != nil {
		for _, av := range rep.Available {
			if strings.HasPrefix(av.Path, "safari/safari-26.3-z") {
				ev.OK, ev.Line = false, "NOT STOPPED: the device accepted safari/safari-26.3-z.tar.gz from the webkit role"
			}
		}
	}
	w.emit(ev)
	return nil
}

func (w *world) stepWrongRelease() error {
	if err := w.add("libsystem", "26.2", "active"); err != nil {
		return err
	}
	if _, err := w.republish("libsystem"); err != nil {
		return err
	}
	before, after, rep, err := w.converge(w.device)
	ev := Event{Name: "attack-wrong-release", Actor: "attacker"}
	if err != nil {
		ev.Line, ev.Error, ev.Class = "the check failed: "+err.Error(), err.Error(), errorClass(err)
		w.emit(ev)
		return nil
	}
	var reason string
	for _, act := range rep.Plan {
		if act.Kind == agent.Ignore && act.Target != nil && act.Target.Manifest.ID == "libsystem-26.2-a" {
			reason = act.Reason
		}
	}
	ev.OK = reason != "" && sameInstalled(before, after)
	ev.Line = "libsystem-26.2-a, validly signed but for release 26.2, was offered to a device on 26.3; it was ignored (" + reason + ") and nothing changed"
	if !ev.OK {
		ev.Line = "NOT STOPPED: the 26.2 improvement was not ignored"
	}
	w.emit(ev)
	return nil
}

func (w *world) stepWithdraw() error {
	if err := w.ws.Withdraw(w.ctx, "webkit-26.3-a", "breaks video playback on some sites"); err != nil {
		return err
	}
	if _, err := w.republish("webkit"); err != nil {
		return err
	}
	before, after, _, err := w.converge(w.device)
	if err != nil {
		return fmt.Errorf("device after the withdrawal: %w", err)
	}
	ok := has(before, "webkit-26.3-a") && !has(after, "webkit-26.3-a") && !hasComponent(after, "webkit")
	w.emit(Event{Name: "withdraw", Actor: "publisher", OK: ok, Line: "the publisher withdrew webkit (a) (\"breaks video playback on some sites\") with a signed statement; the device rolled webkit back to the baseline and now has " + labels(after)})
	return nil
}

func (w *world) stepReleaseChange() error {
	err := w.deviceDo(w.device, func(a *agent.Agent) error { return a.SetRelease(newRelease, "") })
	if err != nil {
		return err
	}
	before, after, _, err := w.converge(w.device)
	if err != nil {
		return fmt.Errorf("device after the release change: %w", err)
	}
	w.emit(Event{Name: "release-change", Actor: "device", OK: len(before) > 0 && len(after) == 0,
		Line: fmt.Sprintf("the device moved to %s %s, which folds the fixes in; it retired %d improvements for %s and now runs %s", platform, newRelease, len(before), release, labels(after))})
	return nil
}

func has(in []agent.Installed, id string) bool {
	for _, i := range in {
		if i.ID == id {
			return true
		}
	}
	return false
}

func hasComponent(in []agent.Installed, c string) bool {
	for _, i := range in {
		if i.Component == c {
			return true
		}
	}
	return false
}

var errForge = errors.New("demo: cannot forge the webkit publication")
