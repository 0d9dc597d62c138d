package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bsiframework/bsi/internal/atomicfile"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/transparency/publog"
	"github.com/bsiframework/bsi/transparency/witness"
	"github.com/bsiframework/bsi/trust/repo"
	fnote "github.com/transparency-dev/formats/note"
)

// tlogConfig is DIR/transparency/config.json of a workspace.
type tlogConfig struct {
	Format         string `json:"format"`
	LogKey         string `json:"log_key"` // key reference, like the online keys
	Origin         string `json:"origin"`
	WitnessTimeout string `json:"witness_timeout,omitempty"`
}

const tlogConfigFormat = "bsi.tlog-config/v1"

func tlogDir(ws string) string { return filepath.Join(ws, "transparency") }

// workspaceOptions are repoOptions with the workspace's transparency log,
// for every command that may publish DIR.
func workspaceOptions(e *env, dir string) repo.Options {
	o := repoOptions(e)
	o.Transparency = &workspaceTransparency{e: e, dir: dir}
	return o
}

// workspaceTransparency is the repo.Transparency of a workspace: it loads
// DIR/transparency/config.json and the log key when a publish needs them.
type workspaceTransparency struct {
	e   *env
	dir string
}

func (t *workspaceTransparency) LogPublish(ctx context.Context, dest repo.Destination, facts *repo.TransparencyFacts) error {
	data, err := os.ReadFile(filepath.Join(tlogDir(t.dir), "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return withHint(errors.New("targets lists a tlog-policy but the workspace has no log key"), "bsi repo tlog-enable %s --log-key KEY ...", t.dir)
	}
	if err != nil {
		return err
	}
	var c tlogConfig
	if err := json.Unmarshal(data, &c); err != nil || c.Format != tlogConfigFormat {
		return fmt.Errorf("%s: not a %s file: %v", filepath.Join(tlogDir(t.dir), "config.json"), tlogConfigFormat, err)
	}
	s, err := keys.LoadSigner(ctx, c.LogKey, passwordFunc(t.e, c.LogKey))
	if err != nil {
		return keysHint(err)
	}
	ns, err := witness.NewNoteSigner(c.Origin, s)
	if err != nil {
		return err
	}
	var timeout time.Duration
	if c.WitnessTimeout != "" {
		if timeout, err = time.ParseDuration(c.WitnessTimeout); err != nil {
			return fmt.Errorf("witness_timeout: %w", err)
		}
	}
	l := publog.New(publog.Options{Dir: tlogDir(t.dir), Signer: ns, WitnessTimeout: timeout, Logger: t.e.Logger})
	return l.LogPublish(ctx, dest, facts)
}

func repoTlogCommand() *command {
	return &command{
		Name:    "repo tlog-enable",
		Args:    "DIR --log-key KEY --origin NAME --witness NAME=VKEY@URL... --quorum N [--witness-timeout D] [--key KEY]...",
		Summary: "log every publish to a transparency log cosigned by witnesses",
		Help: `Makes the workspace publish to a transparency log (DESIGN.md, Transparency).
It writes the C2SP tlog-policy (the log's key, the witnesses and the quorum)
as the target "tlog-policy" of top-level targets, so targets is pending until
its keys sign it (with --key at once), and records the log key in
DIR/transparency/config.json. From the next publish on, each publish appends
one entry per new improvement and root version to the log in
DIR/transparency/log, asks every witness to cosign the new checkpoint, waits
for the quorum (--witness-timeout, default 30s; the error names the
witnesses that did not cosign and why), and writes tlog/ (tiles and the
cosigned checkpoint) and a .tlog-proof beside every payload to the published
tree, before any metadata. Devices that see the policy then install only
what the log holds under a checkpoint the quorum cosigned. Running it again
replaces the policy (a witness rotation goes through targets' keys).

The log key is an ed25519 key (bsi keys generate --type ed25519, or a KMS
URI) kept online like the timestamp key; --origin names the log (the
checkpoints' first line, e.g. example.org/bsi-log). Each --witness is
NAME=VKEY@URL: the witness's name, its vkey (printed by bsi witness serve
and by bsi keys show --vkey NAME PATH) and its URL prefix (add-checkpoint
is URL/add-checkpoint).

Example:
  bsi repo tlog-enable ws --log-key log.key --origin example.org/bsi-log \
    --witness 'w1=w1+5a1e...+BA...@http://127.0.0.1:8091' \
    --witness 'w2=w2+...@http://127.0.0.1:8092' \
    --witness 'w3=w3+...@http://127.0.0.1:8093' --quorum 2 --key targets.key`,
		Run: runRepoTlogEnable,
	}
}

func runRepoTlogEnable(ctx context.Context, e *env, args []string) error {
	flags := newFlags("repo tlog-enable")
	logKey := flags.String("log-key", "", "")
	origin := flags.String("origin", "", "")
	quorum := flags.Int("quorum", 0, "")
	timeout := flags.Duration("witness-timeout", 0, "")
	var ws, keyRefs stringList
	flags.Var(&ws, "witness", "")
	flags.Var(&keyRefs, "key", "")
	pos, err := parseFlags(flags, args)
	if err != nil {
		return err
	}
	if err := wantArgs(pos, 1, 1, "workspace directory DIR"); err != nil {
		return err
	}
	switch {
	case *logKey == "":
		return usagef("missing --log-key")
	case *origin == "":
		return usagef("missing --origin")
	case len(ws) == 0:
		return usagef("missing --witness: a log without witnesses can show each device its own view")
	case *quorum < 1 || *quorum > len(ws):
		return usagef("--quorum %d: want 1 to %d (the number of --witness)", *quorum, len(ws))
	}
	var witnesses []publog.Witness
	for _, w := range ws {
		name, rest, ok1 := strings.Cut(w, "=")
		vkey, url, ok2 := strings.Cut(rest, "@")
		if !ok1 || !ok2 || name == "" || !strings.Contains(url, "://") {
			return usagef("--witness %q: want NAME=VKEY@URL", w)
		}
		if _, err := fnote.NewVerifierForCosignatureV1(vkey); err != nil {
			return usagef("--witness %s: vkey %q: %v", name, vkey, err)
		}
		witnesses = append(witnesses, publog.Witness{Name: name, Key: vkey, URL: url})
	}
	s, err := keys.LoadSigner(ctx, *logKey, passwordFunc(e, *logKey))
	if err != nil {
		return keysHint(err)
	}
	ns, err := witness.NewNoteSigner(*origin, s)
	if err != nil {
		return usagef("%v", err)
	}
	policy := publog.FormatPolicy(ns.VerifierKey(), "", witnesses, *quorum)
	if _, err := publog.ParsePolicy(policy); err != nil {
		return err
	}
	signers, err := repoLoadSigners(ctx, e, keyRefs)
	if err != nil {
		return err
	}
	w, err := openRepo(ctx, e, pos)
	if err != nil {
		return err
	}
	defer w.Close()
	dir := tlogDir(pos[0])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	c := tlogConfig{Format: tlogConfigFormat, LogKey: *logKey, Origin: *origin}
	if *timeout > 0 {
		c.WitnessTimeout = timeout.String()
	}
	cb, _ := json.MarshalIndent(c, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(dir, "config.json"), append(cb, '\n'), 0o644); err != nil {
		return err
	}
	pf := filepath.Join(dir, "tlog-policy")
	if err := atomicfile.WriteFile(pf, policy, 0o644); err != nil {
		return err
	}
	if err := w.SetTransparencyPolicy(ctx, pf, signers...); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "transparency log %s\nlog vkey %s\nquorum %d of %d witnesses\n", *origin, ns.VerifierKey(), *quorum, len(witnesses))
	if len(signers) == 0 {
		fmt.Fprintf(e.Stderr, "bsi: hint: sign targets: bsi repo sign %s --key TARGETS_KEY\n", pos[0])
	}
	return nil
}
