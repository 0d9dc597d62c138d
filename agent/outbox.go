package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/bsiframework/bsi/fleet/report"
	"github.com/bsiframework/bsi/internal/atomicfile"
)

// Bounds of the report outbox (STATE/outbox.jsonl). When a new report
// would pass one of them, the oldest reports are dropped first, and the
// drop is counted in STATE/report.json (bsi client status shows it).
const (
	OutboxMaxReports = 1000
	OutboxMaxBytes   = 1 << 20
	OutboxMaxAge     = 30 * 24 * time.Hour
)

// outbox is the durable queue of reports not yet acknowledged by the
// collector: one JSON report per line, oldest first. Appending a report is
// one O_APPEND write and an fsync; the file is rewritten atomically only
// when reports leave it (sent, dropped or refused). A line a crash cut
// short, or damaged otherwise, is skipped and counted as dropped.
//
// The outbox is only touched by an Agent, which holds the state lock.
type outbox struct {
	path string
}

// load reads the queued reports, oldest first, keeping those younger than
// OutboxMaxAge at now. dropped counts the damaged and expired lines.
func (o outbox) load(now time.Time) (rs []report.Report, dropped int, err error) {
	f, err := os.Open(o.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	// A file over the bound (written by hand, or by another version) is
	// read up to it: the rest counts as dropped on the next rewrite.
	sc := bufio.NewScanner(io.LimitReader(f, OutboxMaxBytes+4096))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var r report.Report
		if json.Unmarshal(line, &r) != nil || r.Validate() != nil {
			dropped++
			continue
		}
		if now.Sub(r.Time) > OutboxMaxAge {
			dropped++
			continue
		}
		rs = append(rs, r)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return nil, 0, fmt.Errorf("outbox %s: %w", o.path, err)
	}
	return rs, dropped, nil
}

// encodeLine is r as one outbox line.
func encodeLine(r *report.Report) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// add queues r. It appends when the outbox stays within its bounds, and
// otherwise rewrites it without its oldest reports (and without expired
// or damaged lines). It returns how many reports it dropped.
func (o outbox) add(r report.Report, now time.Time) (dropped int, err error) {
	line, err := encodeLine(&r)
	if err != nil {
		return 0, err
	}
	// The common case: room left, judged by bytes and newlines alone.
	// Expired and damaged lines go at the next rewrite (FlushReports
	// loads and rewrites the outbox in every round).
	b, err := os.ReadFile(o.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	if len(b)+len(line) <= OutboxMaxBytes && bytes.Count(b, []byte{'\n'})+1 <= OutboxMaxReports {
		return 0, o.appendLine(line)
	}
	rs, dropped, err := o.load(now)
	if err != nil {
		return 0, err
	}
	rs = append(rs, r)
	keep, cut := trimOutbox(rs)
	return dropped + cut, o.write(keep)
}

// trimOutbox drops the oldest reports until rs fits the bounds.
func trimOutbox(rs []report.Report) (keep []report.Report, dropped int) {
	var size int64
	sizes := make([]int64, len(rs))
	for i := range rs {
		l, _ := encodeLine(&rs[i])
		sizes[i] = int64(len(l))
		size += sizes[i]
	}
	for len(rs)-dropped > OutboxMaxReports || size > OutboxMaxBytes {
		size -= sizes[dropped]
		dropped++
	}
	return rs[dropped:], dropped
}

// appendLine appends one line and syncs it. A last line a crash cut short
// gets its newline first, so that it is skipped alone.
func (o outbox) appendLine(line []byte) error {
	f, err := os.OpenFile(o.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], st.Size()-1); err == nil && last[0] != '\n' {
			line = append([]byte{'\n'}, line...)
		}
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("outbox %s: %w", o.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("outbox %s: %w", o.path, err)
	}
	return f.Close()
}

// write replaces the outbox with rs atomically; none removes it.
func (o outbox) write(rs []report.Report) error {
	if len(rs) == 0 {
		err := os.Remove(o.path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	var buf bytes.Buffer
	for i := range rs {
		l, err := encodeLine(&rs[i])
		if err != nil {
			return err
		}
		buf.Write(l)
	}
	return atomicfile.WriteFile(o.path, buf.Bytes(), 0o600)
}
