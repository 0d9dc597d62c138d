package publog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
	"k8s.io/klog/v2"

	"github.com/bsiframework/bsi/internal/atomicfile"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/witness"
	"github.com/bsiframework/bsi/trust/repo"
)

// DefaultWitnessTimeout bounds the wait for the witnesses' quorum.
const DefaultWitnessTimeout = 30 * time.Second

// integrationTimeout bounds the wait for the local log to integrate and
// sign a checkpoint.
const integrationTimeout = time.Minute

// Log is a workspace's transparency log: a tessera POSIX log in Dir/log,
// the sizes each witness last cosigned in Dir/witnesses.json. It
// implements repo.Transparency.
type Log struct {
	dir     string
	signer  *witness.NoteSigner
	http    *http.Client
	timeout time.Duration
	logger  *slog.Logger
}

var _ repo.Transparency = (*Log)(nil)

// Options configure a Log.
type Options struct {
	// Dir holds the log (DIR/transparency of a workspace).
	Dir string
	// Signer signs checkpoints with the log key; its name is the origin.
	Signer *witness.NoteSigner
	// HTTP calls the witnesses; nil means a client with the timeout.
	HTTP *http.Client
	// WitnessTimeout bounds the wait for a quorum; 0 means
	// DefaultWitnessTimeout.
	WitnessTimeout time.Duration
	// Logger may be nil.
	Logger *slog.Logger
}

// New returns the log of a workspace. Tessera's own logging (klog) is
// silenced: what matters is in the errors and in Logger.
func New(o Options) *Log {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	l := &Log{dir: o.Dir, signer: o.Signer, http: o.HTTP, timeout: o.WitnessTimeout, logger: o.Logger}
	if l.timeout == 0 {
		l.timeout = DefaultWitnessTimeout
	}
	if l.http == nil {
		l.http = &http.Client{Timeout: l.timeout}
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	return l
}

// QuorumError says that the witnesses that answered do not make the
// policy's quorum, and why each other one did not cosign.
type QuorumError struct {
	Size     uint64
	Cosigned []string
	Failed   map[string]error // witness name → why
}

func (e *QuorumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "checkpoint of size %d: no witness quorum (cosigned by %d: %s); did not cosign:", e.Size, len(e.Cosigned), strings.Join(e.Cosigned, ", "))
	for _, n := range slices.Sorted(mapKeys(e.Failed)) {
		fmt.Fprintf(&b, " %s (%v);", n, e.Failed[n])
	}
	return strings.TrimSuffix(b.String(), ";")
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// LogPublish appends every fact not yet logged, waits for the integration,
// gets the checkpoint cosigned by a quorum of the policy's witnesses and
// writes the log's tiles, a proof beside every listed improvement, and the
// cosigned checkpoint to dest (in that order).
func (l *Log) LogPublish(ctx context.Context, dest repo.Destination, facts *repo.TransparencyFacts) error {
	pol, err := ParsePolicy(facts.Policy)
	if err != nil {
		return err
	}
	if pol.LogKey != l.signer.VerifierKey() {
		return fmt.Errorf("the tlog-policy names log key %s, but this workspace signs with %s", pol.LogKey, l.signer.VerifierKey())
	}
	st, err := l.append(ctx, pol, facts)
	if err != nil {
		return err
	}
	cosigned, err := l.cosign(ctx, pol, st)
	if err != nil {
		return err
	}
	return l.write(ctx, dest, facts, st, cosigned)
}

// state is the log after appending.
type state struct {
	cp      log.Checkpoint
	note    []byte            // the log-signed checkpoint
	index   map[string]uint64 // fact key → leaf index
	entries [][]byte          // every leaf, by index
	reader  tessera.LogReader
}

// factKey identifies a fact regardless of the role version it was logged
// with, so that a target logged once is never logged again when its role
// is signed again for another change.
func factKey(e transparency.Entry) (string, error) {
	if e.Kind == transparency.KindImprovement {
		e.RoleVersion = 1
	}
	b, err := e.Marshal()
	return string(b), err
}

func (l *Log) append(ctx context.Context, pol *Policy, facts *repo.TransparencyFacts) (*state, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := os.MkdirAll(filepath.Join(l.dir, "log"), 0o755); err != nil {
		return nil, err
	}
	drv, err := posix.New(ctx, posix.Config{Path: filepath.Join(l.dir, "log")})
	if err != nil {
		return nil, err
	}
	opts := tessera.NewAppendOptions().WithCheckpointSigner(l.signer).
		WithCheckpointInterval(100*time.Millisecond).WithBatching(256, 20*time.Millisecond).
		WithCheckpointRepublishInterval(0).WithGarbageCollectionInterval(0)
	app, shutdown, reader, err := tessera.NewAppender(ctx, drv, opts)
	if err != nil {
		return nil, fmt.Errorf("open log in %s: %w", l.dir, err)
	}
	st := &state{reader: reader}
	size, err := reader.IntegratedSize(ctx)
	if err != nil {
		return nil, err
	}
	if err := st.scan(ctx, size); err != nil {
		return nil, err
	}
	var all []transparency.Entry
	for _, r := range facts.Roots {
		all = append(all, r)
	}
	for _, im := range facts.Improvements {
		all = append(all, im.Entry)
	}
	var futures []tessera.IndexFuture
	queued := map[string]bool{}
	for _, e := range all {
		k, err := factKey(e)
		if err != nil {
			return nil, err
		}
		if _, ok := st.index[k]; ok || queued[k] {
			continue
		}
		queued[k] = true
		b, err := e.Marshal()
		if err != nil {
			return nil, err
		}
		futures = append(futures, app.Add(ctx, tessera.NewEntry(b)))
	}
	for _, f := range futures {
		if _, err := f(); err != nil {
			return nil, fmt.Errorf("append: %w", err)
		}
	}
	// Wait for a checkpoint covering everything integrated (also what a
	// crashed run integrated without publishing its checkpoint).
	deadline := time.Now().Add(integrationTimeout)
	for {
		size, err := reader.IntegratedSize(ctx)
		if err != nil {
			return nil, err
		}
		raw, err := reader.ReadCheckpoint(ctx)
		if err == nil {
			n, err := note.Open(raw, note.VerifierList(pol.Log))
			if err != nil {
				return nil, fmt.Errorf("the log's own checkpoint: %w", err)
			}
			if _, err := st.cp.Unmarshal([]byte(n.Text)); err != nil {
				return nil, fmt.Errorf("the log's own checkpoint: %w", err)
			}
			if st.cp.Size == size && (size > 0 || len(all) == 0) {
				st.note = raw
				break
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the log did not publish a checkpoint of size %d within %v", size, integrationTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := shutdown(ctx); err != nil {
		return nil, fmt.Errorf("close log: %w", err)
	}
	if err := st.scan(ctx, st.cp.Size); err != nil {
		return nil, err
	}
	l.logger.Info("transparency log appended", "new", len(futures), "size", st.cp.Size)
	return st, nil
}

// scan reads every leaf up to size and indexes the facts.
func (st *state) scan(ctx context.Context, size uint64) error {
	st.index, st.entries = map[string]uint64{}, nil
	for b := uint64(0); b*256 < size; b++ {
		bundle, err := client.GetEntryBundle(ctx, st.reader.ReadEntryBundle, b, size)
		if err != nil {
			return err
		}
		for _, data := range bundle.Entries {
			i := uint64(len(st.entries))
			st.entries = append(st.entries, data)
			e, err := transparency.ParseEntry(data)
			if err != nil {
				return fmt.Errorf("log entry %d: %w", i, err)
			}
			k, _ := factKey(*e)
			if _, dup := st.index[k]; !dup {
				st.index[k] = i
			}
		}
	}
	if uint64(len(st.entries)) != size {
		return fmt.Errorf("log has %d entries in its bundles, %d in its tree", len(st.entries), size)
	}
	return nil
}

// witnessState is Dir/witnesses.json: the size each witness last
// cosigned for this log, to send the right consistency proof at once.
type witnessState map[string]uint64

func (l *Log) cosign(ctx context.Context, pol *Policy, st *state) ([]byte, error) {
	ws := witnessState{}
	path := filepath.Join(l.dir, "witnesses.json")
	if data, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(data, &ws); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	pb, err := client.NewProofBuilder(ctx, st.cp.Size, st.reader.ReadTile)
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex // pb is not safe for concurrent use
	consistency := func(old uint64) ([][]byte, error) {
		if old == 0 || old == st.cp.Size {
			return nil, nil
		}
		mu.Lock()
		defer mu.Unlock()
		return pb.ConsistencyProof(ctx, old, st.cp.Size)
	}
	type answer struct {
		lines []byte
		size  uint64
		err   error
	}
	answers := make([]answer, len(pol.Witnesses))
	var wg sync.WaitGroup
	for i, w := range pol.Witnesses {
		wg.Go(func() {
			lines, err := l.ask(ctx, w, st, ws[w.Name], consistency)
			answers[i] = answer{lines: lines, size: st.cp.Size, err: err}
		})
	}
	wg.Wait()
	cosigned := bytes.Clone(st.note)
	qe := &QuorumError{Size: st.cp.Size, Failed: map[string]error{}}
	for i, w := range pol.Witnesses {
		if a := answers[i]; a.err != nil {
			qe.Failed[w.Name] = a.err
			continue
		}
		cosigned = append(cosigned, answers[i].lines...)
		qe.Cosigned = append(qe.Cosigned, w.Name)
		ws[w.Name] = st.cp.Size
	}
	if data, err := json.Marshal(ws); err == nil {
		if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
			return nil, err
		}
	}
	if !pol.Group.Satisfied(cosigned) {
		return nil, qe
	}
	for n, err := range qe.Failed {
		l.logger.Warn("witness did not cosign", "witness", n, "err", err)
	}
	return cosigned, nil
}

// ask gets one witness's cosignature lines, verified with its key.
func (l *Log) ask(ctx context.Context, w Witness, st *state, old uint64, consistency func(uint64) ([][]byte, error)) ([]byte, error) {
	if old > st.cp.Size {
		old = 0 // our record is wrong; the witness says what it has
	}
	for attempt := 0; ; attempt++ {
		p, err := consistency(old)
		if err != nil {
			return nil, fmt.Errorf("consistency proof from %d: %w", old, err)
		}
		body, err := witness.Submit(ctx, l.http, strings.TrimSuffix(w.URL, "/")+"/add-checkpoint",
			&witness.AddCheckpoint{OldSize: old, Proof: p, Checkpoint: st.note})
		var ce *witness.ConflictError
		if errors.As(err, &ce) && attempt == 0 {
			if ce.Size > st.cp.Size {
				return nil, fmt.Errorf("it has cosigned size %d, more than the log's %d: this log was rolled back or forked", ce.Size, st.cp.Size)
			}
			old = ce.Size
			continue
		}
		if err != nil {
			return nil, err
		}
		return verifiedLines(st.note, body, w)
	}
}

// verifiedLines returns the signature lines of body that verify with the
// witness's key over the checkpoint.
func verifiedLines(cp, body []byte, w Witness) ([]byte, error) {
	n, err := note.Open(append(bytes.Clone(cp), body...), note.VerifierList(w.Verifier))
	if err != nil {
		return nil, fmt.Errorf("its answer has no valid cosignature: %w", err)
	}
	var out []byte
	for _, s := range n.Sigs {
		if s.Name == w.Verifier.Name() && s.Hash == w.Verifier.KeyHash() {
			out = fmt.Appendf(out, "— %s %s\n", s.Name, s.Base64)
		}
	}
	if out == nil {
		return nil, errors.New("its answer has no cosignature by its key")
	}
	return out, nil
}

// write copies the tiles, the proofs and the checkpoint to dest.
func (l *Log) write(ctx context.Context, dest repo.Destination, facts *repo.TransparencyFacts, st *state, cosigned []byte) error {
	root := filepath.Join(l.dir, "log")
	err := filepath.WalkDir(filepath.Join(root, "tile"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := transparency.LogDir + "/" + filepath.ToSlash(rel)
		if ok, err := dest.Exists(ctx, name); err != nil || ok {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return dest.WriteFile(ctx, name, data)
	})
	if err != nil {
		return fmt.Errorf("copy tiles: %w", err)
	}
	pb, err := client.NewProofBuilder(ctx, st.cp.Size, st.reader.ReadTile)
	if err != nil {
		return err
	}
	for _, im := range facts.Improvements {
		if im.Withdrawn {
			continue
		}
		k, _ := factKey(im.Entry)
		i, ok := st.index[k]
		if !ok {
			return fmt.Errorf("%s is not in the log after appending it", im.Entry.Path)
		}
		hashes, err := pb.InclusionProof(ctx, i)
		if err != nil {
			return fmt.Errorf("inclusion proof of %s (index %d): %w", im.Entry.Path, i, err)
		}
		proof := FormatProof(st.entries[i], i, hashes, cosigned)
		for _, f := range im.Files {
			if err := dest.WriteFile(ctx, f+transparency.ProofSuffix, proof); err != nil {
				return fmt.Errorf("write %s: %w", f+transparency.ProofSuffix, err)
			}
		}
	}
	return dest.WriteFile(ctx, transparency.CheckpointPath, cosigned)
}

// FormatProof writes a C2SP tlog-proof: the entry as "extra", its index,
// the inclusion proof and the cosigned checkpoint.
func FormatProof(entry []byte, index uint64, hashes [][]byte, checkpoint []byte) []byte {
	var b bytes.Buffer
	b.WriteString("c2sp.org/tlog-proof@v1\n")
	fmt.Fprintf(&b, "extra %s\n", base64.StdEncoding.EncodeToString(entry))
	fmt.Fprintf(&b, "index %d\n", index)
	for _, h := range hashes {
		fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h))
	}
	b.WriteByte('\n')
	b.Write(checkpoint)
	return b.Bytes()
}
