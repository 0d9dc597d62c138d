package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bsiframework/bsi/fleet/report"
	"github.com/bsiframework/bsi/install"
	"github.com/bsiframework/bsi/transparency"
)

// Device reports (issue 14). With a report URL (bsi client init
// --report-url, bsi client set-report-url), the agent tells a fleet
// collector what happened to each improvement: installed, rolled back,
// retired, failed its health check, refused for security or freshness.
// Reports are queued in a durable outbox after the journal has committed
// the change they describe, and sent afterwards with their own short
// deadline: a collector that is down or slow never delays or blocks an
// install. Without a report URL nothing is queued or sent.
//
//	STATE/report.json    report URL, pseudonymous device id, counters, backoff
//	STATE/outbox.jsonl   reports not yet acknowledged, one per line

// Names in the state directory.
const (
	reportFile = "report.json"
	outboxFile = "outbox.jsonl"
)

// Sending defaults.
const (
	// DefaultFlushTimeout bounds one FlushReports when the caller gives none.
	DefaultFlushTimeout = 5 * time.Second
	backoffBase         = 30 * time.Second
	backoffMax          = time.Hour
	maxAnswer           = 64 << 10
)

// ReportConfig is STATE/report.json: where reports go, the device's
// pseudonymous id, and the sender's counters.
type ReportConfig struct {
	// URL is the collector's base URL; reports are POSTed to URL/v1/reports.
	// Empty: reporting is off.
	URL string `json:"url,omitempty"`
	// Device is the pseudonymous device id: 16 random bytes in hex, made
	// once, never derived from a host name, an address or a serial.
	Device string `json:"device"`
	// Sent counts reports the collector acknowledged.
	Sent int64 `json:"sent,omitempty"`
	// Dropped counts reports lost from the outbox: the oldest when it was
	// full (OutboxMaxReports, OutboxMaxBytes), older than OutboxMaxAge, or
	// damaged.
	Dropped int64 `json:"dropped,omitempty"`
	// Rejected counts reports the collector refused for good (a 400 that
	// names the report).
	Rejected int64 `json:"rejected,omitempty"`
	// Failures counts the sends failed in a row; NextAttempt is when the
	// next may start (exponential backoff, or the collector's Retry-After).
	Failures    int       `json:"failures,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastSent    time.Time `json:"last_sent,omitzero"`
}

// ValidateReportURL checks a collector URL by the rules of the repository
// URLs: http or https with a host, no user name or password, no query or
// fragment. The error is a *ConfigError.
func ValidateReportURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &ConfigError{Field: "report_url", Problem: fmt.Sprintf("%q is not an http or https URL", s)}
	}
	if u.User != nil {
		return &ConfigError{Field: "report_url", Problem: "has a user name or password in it"}
	}
	if u.Fragment != "" || strings.Contains(s, "#") || u.RawQuery != "" || strings.Contains(s, "?") {
		return &ConfigError{Field: "report_url", Problem: fmt.Sprintf("%q has a query or fragment; give the collector's base URL", u.Redacted())}
	}
	return nil
}

func readReportConfig(name string) (*ReportConfig, error) {
	var rc ReportConfig
	err := readJSON(name, &rc)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rc.URL != "" {
		if err := ValidateReportURL(rc.URL); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	if !validDeviceID(rc.Device) {
		return nil, fmt.Errorf("%s: device id %.40q is not 32 lower-case hex digits", name, rc.Device)
	}
	return &rc, nil
}

func validDeviceID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// ReportConfig returns the reporting configuration of the state, nil
// when reporting was never configured.
func (a *Agent) ReportConfig() (*ReportConfig, error) {
	return readReportConfig(a.path(reportFile))
}

// SetReportURL turns reporting on (u, a collector base URL, see
// ValidateReportURL) or off (u empty: the queued reports are deleted, the
// device id kept). The device id is made on first use.
func (a *Agent) SetReportURL(u string) error {
	if u != "" {
		if err := ValidateReportURL(u); err != nil {
			return err
		}
	}
	rc, err := a.ReportConfig()
	if err != nil {
		return err
	}
	if rc == nil {
		if u == "" {
			return nil
		}
		id, err := report.NewID(nil)
		if err != nil {
			return err
		}
		rc = &ReportConfig{Device: id}
	}
	rc.URL = u
	if u == "" {
		if err := (outbox{a.path(outboxFile)}).write(nil); err != nil {
			return err
		}
		rc.Failures, rc.NextAttempt, rc.LastError = 0, time.Time{}, ""
	}
	return writeJSON(a.path(reportFile), rc)
}

// subject is the improvement a report is about.
type subject struct {
	component, id string
	sequence      int
}

func subjectOf(in *Installed) subject {
	return subject{component: in.Component, id: in.ID, sequence: in.Sequence}
}

func subjectOfAvailable(v *Available) subject {
	return subject{component: v.Manifest.Component, id: v.Manifest.ID, sequence: v.Manifest.Sequence}
}

// event is one reportable outcome.
type event struct {
	subject
	outcome report.Outcome
	class   string
}

// resultEvents maps what Apply did to reports: a finished install,
// rollback or retirement, a failed health check, and a payload or archive
// refused for security or freshness. Operational failures (network, disk)
// say nothing about the improvement and are not reported.
func resultEvents(res *Result) []event {
	var out []event
	for _, act := range res.Done {
		out = append(out, doneEvent(act, "withdrawn"))
	}
	for _, f := range res.Failed {
		if f.Action.To == nil {
			continue
		}
		s := subjectOfAvailable(f.Action.To)
		var he *install.HealthError
		switch {
		case errors.As(f.Err, &he):
			out = append(out, event{s, report.HealthFailed, "health"})
		case errors.As(f.Err, new(*transparency.TransparencyError)):
			// Not logged or not witnessed: the fleet sees a split view.
			out = append(out, event{s, report.SecurityFailure, "transparency"})
		case errorClass(f.Err) == "security":
			out = append(out, event{s, report.SecurityFailure, "security"})
		case errorClass(f.Err) == "freshness":
			out = append(out, event{s, report.FreshnessFailure, "freshness"})
		}
	}
	return out
}

// doneEvent is the report of a finished action; rollbackClass says why a
// rollback happened ("withdrawn", "user").
func doneEvent(act Action, rollbackClass string) event {
	switch act.Kind {
	case Install:
		return event{subjectOfAvailable(act.To), report.Installed, ""}
	case RollBack:
		return event{subjectOf(act.From), report.RolledBack, rollbackClass}
	default: // Retire
		return event{subjectOf(act.From), report.Retired, "release"}
	}
}

// queueReports puts one report per event in the outbox, when reporting is
// on. It runs after the journal committed the changes; a failure is
// logged, never returned: reporting never fails an install.
// rep, when not nil, is the check the events followed: it gives the
// rollout stage of each improvement.
func (a *Agent) queueReports(ctx context.Context, rep *Report, evs []event) {
	if len(evs) == 0 {
		return
	}
	rc, err := a.ReportConfig()
	if err != nil {
		a.log.WarnContext(ctx, "reports: not queued", "err", err)
		return
	}
	if rc == nil || rc.URL == "" {
		return
	}
	ob := outbox{a.path(outboxFile)}
	dropped := 0
	for _, ev := range evs {
		r, err := a.newReport(rc.Device, rep, ev)
		if err == nil {
			var n int
			n, err = ob.add(r, a.opts.Now())
			dropped += n
		}
		if err != nil {
			a.log.WarnContext(ctx, "reports: not queued", "component", ev.component, "id", ev.id, "outcome", ev.outcome, "err", err)
		}
	}
	if dropped > 0 {
		rc.Dropped += int64(dropped)
		a.log.WarnContext(ctx, "reports: outbox full, oldest dropped", "dropped", dropped)
		if err := writeJSON(a.path(reportFile), rc); err != nil {
			a.log.WarnContext(ctx, "reports: counter not saved", "err", err)
		}
	}
}

// newReport fills a report for ev; rep (may be nil) gives the stage.
func (a *Agent) newReport(device string, rep *Report, ev event) (report.Report, error) {
	id, err := report.NewID(nil)
	if err != nil {
		return report.Report{}, err
	}
	r := report.Report{ID: id, Device: device, Platform: a.cfg.Platform, Release: a.cfg.Release,
		Build: a.cfg.Build, Ring: a.cfg.Ring, Component: ev.component, Improvement: ev.id,
		Sequence: ev.sequence, Stage: reportStage(rep, ev.component, ev.id), Outcome: ev.outcome,
		ErrorClass: ev.class, Time: a.opts.Now().UTC()}
	return r, r.Validate()
}

// reportStage is the rollout stage (1-based) the device was in for
// component/id in the check rep; 0 when no rollout gates it, before its
// start, or when rep is nil.
func reportStage(rep *Report, component, id string) int {
	if rep == nil {
		return 0
	}
	st := rep.RolloutOf(component, id)
	if st == nil || st.Decision == nil || !st.Decision.Started {
		return 0
	}
	return min(st.Decision.Stage+1, report.MaxStage)
}

// FlushResult says what FlushReports did.
type FlushResult struct {
	Sent, Rejected, Queued int
	// Skipped is set when the backoff of earlier failures was not over.
	Skipped bool
}

// SendError is a send of reports that failed; they stay queued.
type SendError struct {
	URL    string
	Status int // 0 for a network failure
	Err    error
}

func (e *SendError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("reports to %s: %v", e.URL, e.Err)
	}
	return fmt.Sprintf("reports to %s: HTTP %d: %v", e.URL, e.Status, e.Err)
}

func (e *SendError) Unwrap() error { return e.Err }

// FlushReports sends the queued reports to the collector in batches of at
// most report.DeviceBatch, within timeout (DefaultFlushTimeout when zero),
// unless the backoff of earlier failures is not over. Acknowledged reports
// leave the outbox, and so do reports the collector refuses for good;
// after a failure (network, timeout, 5xx, 429) the rest stays queued and
// the next attempt waits (30 s doubling to 1 h, or Retry-After). Reports
// carry ids, so a batch sent twice is stored once. The error is a
// *SendError; nil when there was nothing to do.
func (a *Agent) FlushReports(ctx context.Context, timeout time.Duration) (FlushResult, error) {
	var fr FlushResult
	rc, err := a.ReportConfig()
	if err != nil || rc == nil || rc.URL == "" {
		return fr, err
	}
	ob := outbox{a.path(outboxFile)}
	now := a.opts.Now()
	rs, dropped, err := ob.load(now)
	if err != nil {
		return fr, err
	}
	save := func() error {
		if err := ob.write(rs); err != nil {
			return err
		}
		return writeJSON(a.path(reportFile), rc)
	}
	if dropped > 0 {
		rc.Dropped += int64(dropped)
		if err := save(); err != nil {
			return fr, err
		}
	}
	fr.Queued = len(rs)
	if len(rs) == 0 {
		return fr, nil
	}
	if now.Before(rc.NextAttempt) || ctx.Err() != nil {
		// Within the backoff, or stopping (a cancelled send is no
		// failure of the collector's).
		fr.Skipped = true
		return fr, nil
	}
	if timeout <= 0 {
		timeout = DefaultFlushTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var sendErr error
	for len(rs) > 0 && sendErr == nil {
		n := min(len(rs), report.DeviceBatch)
		done, bad, retryAfter, err := a.postBatch(ctx, rc.URL, rs[:n])
		switch {
		case err != nil:
			sendErr = err
			rc.Failures++
			wait := backoff(rc.Failures)
			rc.NextAttempt = a.opts.Now().Add(max(wait, retryAfter))
			rc.LastError = err.Error()
		case bad >= 0:
			// One report refused for good: drop it, send the rest.
			rs = append(rs[:bad:bad], rs[bad+1:]...)
			rc.Rejected++
			fr.Rejected++
		default:
			rs = rs[done:]
			rc.Sent += int64(done)
			fr.Sent += done
			rc.Failures, rc.NextAttempt, rc.LastError = 0, time.Time{}, ""
			rc.LastSent = a.opts.Now().UTC()
		}
	}
	fr.Queued = len(rs)
	if err := save(); err != nil {
		return fr, errors.Join(sendErr, err)
	}
	if sendErr != nil {
		a.log.WarnContext(ctx, "reports: not sent, will retry", "queued", len(rs), "next", rc.NextAttempt, "err", sendErr)
	}
	return fr, sendErr
}

// backoff is the wait after n failures in a row: 30 s doubling up to 1 h,
// the second half of it random so that a fleet does not retry in step.
func backoff(n int) time.Duration {
	d := backoffBase << min(n-1, 7)
	d = min(d, backoffMax)
	return d/2 + rand.N(d/2+1)
}

// postBatch sends rs. It returns how many were acknowledged (all of them
// on a 200), or the index of one report the collector refused for good
// (bad >= 0: the one a 400 answer names), or an error to retry later,
// with the collector's Retry-After.
func (a *Agent) postBatch(ctx context.Context, base string, rs []report.Report) (done, bad int, retryAfter time.Duration, err error) {
	bad = -1
	body, err := report.Batch{Reports: rs}.Encode()
	if err != nil {
		// Queued reports were validated; one that no longer encodes is damaged.
		var de *report.DecodeError
		if errors.As(err, &de) && de.Report >= 0 {
			return 0, de.Report, 0, nil
		}
		return 0, -1, 0, err
	}
	u := strings.TrimSuffix(base, "/") + "/v1/reports"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, -1, 0, &SendError{URL: u, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	hc := a.opts.HTTPClient
	if hc == nil {
		hc = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, -1, 0, &SendError{URL: u, Err: err}
	}
	defer resp.Body.Close()
	ans, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	switch st := resp.StatusCode; {
	case st == http.StatusOK:
		return len(rs), -1, 0, nil
	case st == http.StatusTooManyRequests || st == http.StatusRequestTimeout || st >= 500:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return 0, -1, time.Duration(min(max(secs, 0), 3600)) * time.Second,
			&SendError{URL: u, Status: st, Err: errors.New(answerText(ans))}
	case st == http.StatusBadRequest:
		// A report refused for good (its time outside the collector's
		// window, say) is named by the answer; it is dropped. A refusal
		// that names none is retried later like a failure: a wrong URL
		// must not empty the outbox.
		var refusal struct {
			Report *int `json:"report"`
		}
		if json.Unmarshal(ans, &refusal) == nil && refusal.Report != nil && *refusal.Report >= 0 && *refusal.Report < len(rs) {
			i := *refusal.Report
			a.log.WarnContext(ctx, "reports: refused by the collector", "report", rs[i].ID, "answer", answerText(ans))
			return 0, i, 0, nil
		}
	}
	return 0, -1, 0, &SendError{URL: u, Status: resp.StatusCode, Err: errors.New(answerText(ans))}
}

// answerText is a collector's answer, short and printable.
func answerText(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, string(b))
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "no answer body"
	}
	return s
}

// ReportStatus is the reporting state, for bsi client status.
type ReportStatus struct {
	ReportConfig
	Queued int `json:"queued"`
}

// ReadReportStatus reads the reporting state of the state directory dir
// without locking it; nil when reporting was never configured.
func ReadReportStatus(dir string, now time.Time) (*ReportStatus, error) {
	rc, err := readReportConfig(filepath.Join(dir, reportFile))
	if err != nil || rc == nil {
		return nil, err
	}
	rs, dropped, err := outbox{filepath.Join(dir, outboxFile)}.load(now)
	if err != nil {
		return nil, err
	}
	st := &ReportStatus{ReportConfig: *rc, Queued: len(rs)}
	st.Dropped += int64(dropped)
	return st, nil
}

// reportAttention lists, for status, what needs a look in reporting.
func reportAttention(dir string, now time.Time) []string {
	st, err := ReadReportStatus(dir, now)
	switch {
	case err != nil:
		return []string{"reports: " + err.Error()}
	case st == nil || st.URL == "":
		return nil
	}
	var out []string
	if st.Dropped > 0 {
		out = append(out, fmt.Sprintf("reports: %d dropped from the outbox (full, older than %v, or damaged)", st.Dropped, OutboxMaxAge))
	}
	if st.LastError != "" && st.Queued > 0 {
		out = append(out, fmt.Sprintf("reports: %d queued, last send failed (%s), next attempt at %s", st.Queued, st.LastError, stamp(st.NextAttempt)))
	}
	return out
}
