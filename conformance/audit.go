package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bsiframework/bsi/trust"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// AuditOptions configures Audit.
type AuditOptions struct {
	// URL is the metadata URL prefix of the published repository.
	URL string
	// TargetsURL is the payload URL prefix (default URL + "/targets").
	TargetsURL string
	// Root is the trusted root the walk starts from (any published version).
	Root []byte
	// SkipPayloads skips downloading targets (lengths and hashes unchecked).
	SkipPayloads bool
	// Now is the reference time (default time.Now).
	Now func() time.Time
	// Intervals are the refresh intervals of roles by name ("delegated" for
	// every delegated role); the defaults are root 30 days, targets and
	// delegated 7 days, snapshot 1 day, timestamp 6 hours.
	Intervals map[string]time.Duration
	// HTTPClient fetches files (default a client with a 30 s timeout).
	HTTPClient *http.Client
	// SkipClient skips the second verification with the device client
	// (trust/client) and the comparison of its verdicts with go-tuf's.
	SkipClient bool
	// Logger receives the device client's debug messages; nil: discard.
	Logger *slog.Logger
}

// Severity classes of audit findings, from worst.
const (
	SevSecurity  = "security"  // a client must refuse this: exit 3
	SevFreshness = "freshness" // expired: exit 4
	SevError     = "error"     // broken publishing (missing files, bad manifests sequence): exit 1
	SevWarning   = "warning"   // hygiene and budget: reported, exit 0
)

// Finding is one thing an audit found wrong.
type Finding struct {
	Severity string `json:"severity"`
	Role     string `json:"role,omitempty"`
	Check    string `json:"check"`
	Message  string `json:"message"`
}

// RoleAudit is what the audit learnt of one role file.
type RoleAudit struct {
	Role     string        `json:"role"`
	Version  int64         `json:"version"`
	Expires  time.Time     `json:"expires"`
	Left     time.Duration `json:"left_ns"`
	Interval time.Duration `json:"interval_ns"`
	Budget   string        `json:"budget"` // ok, warn (under twice the interval), expired
	// Verified is whether the role verified with go-tuf and every role
	// above it (its delegator, the trusted root) verified too.
	Verified  bool `json:"verified"`
	Targets   int  `json:"targets"`
	Threshold int  `json:"threshold"`
	// Keys are the key ids the delegator gives the role; Signatures
	// counts the signatures on the file (valid or not).
	Keys       []string `json:"keys"`
	Signatures int      `json:"signatures"`
	// Delegator is the role that delegates this one ("" for top-level
	// roles, whose keys root gives).
	Delegator string `json:"delegator,omitempty"`
}

// AuditSchema names the version of the JSON form of AuditReport: fields
// are only ever added under one schema name.
const AuditSchema = "bsi.audit/v1"

// AuditReport is the outcome of Audit. Its JSON form (WriteJSON) is a
// stable schema, named by the Schema field and described by
// conformance/schema/audit.v1.json; durations are nanoseconds.
type AuditReport struct {
	Schema   string      `json:"schema"`
	URL      string      `json:"url"`
	Time     time.Time   `json:"time"`
	Roles    []RoleAudit `json:"roles"`
	Targets  int         `json:"targets"`
	Payloads int         `json:"payloads_checked"`
	Findings []Finding   `json:"findings"`
}

var defaultIntervals = map[string]time.Duration{
	"root": 30 * 24 * time.Hour, "targets": 7 * 24 * time.Hour, "delegated": 7 * 24 * time.Hour,
	"snapshot": 24 * time.Hour, "timestamp": 6 * time.Hour,
}

// Audit walks the repository at o.URL from o.Root and reports every
// finding: it goes on after a failure wherever the rest can still be
// checked. The error is for an audit that could not start (bad options,
// unreadable root); AuditReport.Err classifies the findings.
func Audit(ctx context.Context, o AuditOptions) (*AuditReport, error) {
	if o.URL == "" || len(o.Root) == 0 {
		return nil, errors.New("audit: a URL and a trusted root are required")
	}
	o.URL = strings.TrimRight(o.URL, "/")
	if o.TargetsURL == "" {
		o.TargetsURL = o.URL + "/targets"
	}
	o.TargetsURL = strings.TrimRight(o.TargetsURL, "/")
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	a := &auditor{o: o, now: o.Now().UTC(), rep: &AuditReport{Schema: AuditSchema, URL: o.URL, Findings: []Finding{}},
		component: map[string]string{}}
	a.rep.Time = a.now
	if err := a.walk(ctx); err != nil {
		return nil, err
	}
	if !o.SkipClient {
		if err := a.crossCheck(ctx); err != nil {
			return nil, err
		}
	}
	// A cancelled audit is not a repository's fault: no report of the
	// fetches it cut short.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return a.rep, nil
}

type auditor struct {
	o      AuditOptions
	now    time.Time
	rep    *AuditReport
	root   *metadata.Metadata[metadata.RootType] // the newest root the chain reached
	rootOK bool                                  // the trusted root verified
	// component maps each targets-family role visited to the component
	// (top-level delegation) trust/client files it under.
	component map[string]string
}

func (a *auditor) find(sev, role, check, format string, args ...any) {
	a.rep.Findings = append(a.rep.Findings, Finding{Severity: sev, Role: role, Check: check, Message: fmt.Sprintf(format, args...)})
}

// fetch returns the body of url, nil with no error on a 404.
func (a *auditor) fetch(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.o.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", url, limit)
	}
	return b, nil
}

// budget records a role's expiry budget.
func (a *auditor) budget(ra RoleAudit, class string) RoleAudit {
	ra.Left = ra.Expires.Sub(a.now)
	ra.Interval = a.o.Intervals[class]
	if ra.Interval == 0 {
		ra.Interval = defaultIntervals[class]
	}
	switch {
	case ra.Left <= 0:
		ra.Budget = "expired"
		a.find(SevFreshness, ra.Role, "expiry", "%s version %d expired at %s", ra.Role, ra.Version, ra.Expires.Format(time.RFC3339))
	case ra.Left < 2*ra.Interval:
		ra.Budget = "warn"
		a.find(SevWarning, ra.Role, "expiry-budget", "%s version %d expires in %s, under twice its refresh interval %s",
			ra.Role, ra.Version, FormatLeft(ra.Left), FormatLeft(ra.Interval))
	default:
		ra.Budget = "ok"
	}
	a.rep.Roles = append(a.rep.Roles, ra)
	return ra
}

// Err classifies the findings: an error wrapping trust.ErrSecurity when
// there is a security finding, else trust.ErrFreshness for an expired
// role, else a plain error for other errors; nil when only warnings.
func (r *AuditReport) Err() error {
	count := func(sev string) int {
		n := 0
		for _, f := range r.Findings {
			if f.Severity == sev {
				n++
			}
		}
		return n
	}
	switch {
	case count(SevSecurity) > 0:
		return fmt.Errorf("audit: %s: %w", plural(count(SevSecurity), "security finding"), trust.ErrSecurity)
	case count(SevFreshness) > 0:
		return fmt.Errorf("audit: %s: %w", plural(count(SevFreshness), "expired role"), trust.ErrFreshness)
	case count(SevError) > 0:
		return fmt.Errorf("audit: %s", plural(count(SevError), "finding"))
	}
	return nil
}

// HasFinding reports whether the report has a finding of check (for role
// when role is not "").
func (r *AuditReport) HasFinding(check, role string) bool {
	return slices.ContainsFunc(r.Findings, func(f Finding) bool {
		return f.Check == check && (role == "" || f.Role == role)
	})
}

// WriteText writes the report for people: roles with their expiry
// budget, then the findings.
func (r *AuditReport) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "role\tversion\tverified\texpires\tleft\tinterval\tbudget\ttargets")
	for _, ra := range r.Roles {
		fmt.Fprintf(tw, "%s\t%d\t%v\t%s\t%s\t%s\t%s\t%d\n", ra.Role, ra.Version, ra.Verified,
			ra.Expires.Format(time.RFC3339), FormatLeft(ra.Left), FormatLeft(ra.Interval), ra.Budget, ra.Targets)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%s, %s checked, %s\n", plural(r.Targets, "target"), plural(r.Payloads, "payload"), plural(len(r.Findings), "finding"))
	for _, f := range r.Findings {
		fmt.Fprintf(w, "%-9s %-20s %s\n", f.Severity, f.Check, f.Message)
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (r *AuditReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteJUnit writes the report as JUnit XML: one test case per role and
// per check that found something (warnings pass).
func (r *AuditReport) WriteJUnit(w io.Writer) error {
	rep := &Report{}
	for _, ra := range r.Roles {
		rep.Results = append(rep.Results, Result{Name: "audit/role " + ra.Role, Group: "audit", Status: Pass})
	}
	for _, f := range r.Findings {
		res := Result{Name: "audit/" + f.Check + " " + f.Role, Group: "audit", Status: Pass}
		if f.Severity != SevWarning {
			res.Status, res.Failures = Fail, []string{f.Severity + ": " + f.Message}
		}
		rep.Results = append(rep.Results, res)
	}
	return rep.writeJUnit(w, []string{"audit"})
}

// plural is "1 finding", "2 findings", "0 unexpected passes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "s") {
		return fmt.Sprintf("%d %ses", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// FormatLeft prints a duration as bsi status does: whole days from two
// days up ("364d"), else hours, else minutes; negative when past.
func FormatLeft(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	var s string
	switch {
	case d >= 48*time.Hour:
		s = fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour:
		s = fmt.Sprintf("%dh", d/time.Hour)
	default:
		s = fmt.Sprintf("%dm", d/time.Minute)
	}
	if neg {
		return "-" + s
	}
	return s
}
