package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/conformance/internal/protoclient"
)

// TestAttackHTMLEscapesRepositoryText: names and messages from a hostile
// repository or client cannot add markup, scripts or external resources
// to the reports: everything is escaped, and the pages load nothing.
func TestAttackHTMLEscapesRepositoryText(t *testing.T) {
	evil := `<script>alert(1)</script><img src="https://evil.example/x.png">`
	ar := &AuditReport{Schema: AuditSchema, URL: "http://h/" + evil, Time: fixtureTime,
		Roles:    []RoleAudit{{Role: evil, Version: 1, Expires: fixtureExpires, Left: time.Hour, Interval: time.Hour, Budget: "warn", Keys: []string{evil}}},
		Findings: []Finding{{Severity: SevSecurity, Role: evil, Check: "signature", Message: evil}}}
	cr := &Report{Client: []string{evil}, Results: []Result{{Name: evil, Spec: evil, Description: evil, Status: Fail,
		Failures: []string{evil}, Calls: []Invocation{{Args: []string{evil}, Stderr: evil}}}}}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"audit":       func(b *bytes.Buffer) error { return ar.WriteHTML(b) },
		"conformance": func(b *bytes.Buffer) error { return cr.WriteHTML(b) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		page := b.String()
		for _, bad := range []string{"<script", "<img", "<link", ` src="`, "@import", "url("} {
			if strings.Contains(page, bad) {
				t.Errorf("%s page contains %q:\n%s", name, bad, page)
			}
		}
		if !strings.Contains(page, "&lt;script&gt;") {
			t.Errorf("%s page does not show the escaped name", name)
		}
	}
}

// chromium returns the path of the browser, or skips (fails under CI=true).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium required under CI=true: install Debian's chromium")
	}
	t.Skip("skipping: chromium not installed (Debian package chromium)")
	return ""
}

// browse runs headless chromium on url with extra flags and returns its
// stdout and its log.
func browse(t *testing.T, bin, url string, flags ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0"}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var out, log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &log
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", url, err, log.String())
	}
	return out.String(), log.String()
}

// loadPage renders file in chromium, fails on any console message, takes
// a screenshot next to it (and into docs/ under -update) and returns the
// DOM.
func loadPage(t *testing.T, bin, file, docsPNG string) string {
	t.Helper()
	url := "file://" + file
	dom, log := browse(t, bin, url, "--dump-dom")
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Refused to") || strings.Contains(line, "ERR_") {
			t.Errorf("browser console: %s", line)
		}
	}
	shot := strings.TrimSuffix(file, ".html") + ".png"
	browse(t, bin, url, "--screenshot="+shot, "--window-size=1200,900", "--hide-scrollbars")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	if *update {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(filepath.Join("..", "docs", docsPNG), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshot %s", shot)
	return dom
}

// domNumber is the text of the element with id in dom, as a number.
func domNumber(t *testing.T, dom, id string) int {
	t.Helper()
	m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `"[^>]*>(\d+)<`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no element %s in the page", id)
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// TestAuditHTMLInChromium: the audit page of a repository with findings
// loads in headless Chromium with no console message, shows the JSON
// report's numbers, and draws a bar per role.
func TestAuditHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	rep := auditFixture(t, "hex-ecdsa", fixtureTime)
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back AuditReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "audit.html")
	writeHTML(t, file, back.WriteHTML)
	dom := loadPage(t, bin, file, "audit-report.png")
	count := func(sev string) int {
		n := 0
		for _, f := range back.Findings {
			if f.Severity == sev {
				n++
			}
		}
		return n
	}
	for id, want := range map[string]int{
		"n-roles": len(back.Roles), "n-targets": back.Targets, "n-payloads": back.Payloads, "n-findings": len(back.Findings),
		"n-security": count(SevSecurity), "n-error": count(SevError), "n-warning": count(SevWarning), "n-freshness": count(SevFreshness),
	} {
		if got := domNumber(t, dom, id); got != want {
			t.Errorf("%s = %d on the page, %d in the JSON report", id, got, want)
		}
	}
	if got := strings.Count(dom, `class="bar ok"`); got != len(back.Roles) {
		t.Errorf("%d timeline bars, want %d (one per role)", got, len(back.Roles))
	}
	if got := strings.Count(dom, `class="role"`); got != len(back.Roles) {
		t.Errorf("%d role rows, want %d", got, len(back.Roles))
	}
}

// TestConformanceHTMLInChromium: the matrix page of one group run against
// go-tuf and a broken go-tuf loads in headless Chromium with no console
// message and shows the JSON report's numbers, failures expanded.
func TestConformanceHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	m := &Matrix{}
	for _, fault := range []protoclient.Fault{protoclient.None, protoclient.Rollback} {
		m.Runs = append(m.Runs, run(t, Options{Client: selfClient(t, fault), Groups: []string{"rollback"}}))
	}
	var js bytes.Buffer
	if err := m.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Matrix
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "conformance.html")
	writeHTML(t, file, back.WriteHTML)
	dom := loadPage(t, bin, file, "conformance-report.png")
	failures := 0
	for i, r := range back.Runs {
		c := r.Counts("")
		for name, want := range map[string]int{"pass": c.Pass, "fail": c.Fail, "xfail": c.XFail, "xpass": c.XPass, "skip": c.Skip} {
			if got := domNumber(t, dom, fmt.Sprintf("n-%s-%d", name, i)); got != want {
				t.Errorf("client %d: %s = %d on the page, %d in the JSON report", i, name, got, want)
			}
		}
		failures += len(r.Failed())
	}
	if failures == 0 {
		t.Fatal("the broken client failed nothing: the test shows no failure")
	}
	if got := strings.Count(dom, `<details open="" class="failure">`); got != failures {
		t.Errorf("%d failures expanded, want %d", got, failures)
	}
}

func writeHTML(t *testing.T, file string, write func(w io.Writer) error) {
	t.Helper()
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
