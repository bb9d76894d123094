package policy

import (
	"strings"
	"testing"
	"time"
)

// Limit policies load with APIM's attributes; what sfgate cannot do is a load error that says so.
func TestLimitPoliciesLoad(t *testing.T) {
	good := `<policies><inbound>
	  <rate-limit calls="20" renewal-period="90" remaining-calls-header-name="Remaining" total-calls-header-name="Total" />
	  <rate-limit-by-key calls="10" renewal-period="60" counter-key="@(context.Request.IpAddress)"
	      increment-condition="@(context.Response.StatusCode &gt;= 200 &amp;&amp; context.Response.StatusCode &lt; 300)"
	      increment-count="@(2)" retry-after-header-name="X-Retry" retry-after-variable-name="wait"
	      remaining-calls-variable-name="left" />
	  <quota-by-key calls="10000" renewal-period="3600" counter-key="@(context.Request.Headers.GetValueOrDefault(&quot;X-Client&quot;,&quot;&quot;))"
	      first-period-start="2024-01-01T00:00:00Z" />
	  <limit-concurrency key="@(context.Request.IpAddress)" max-count="3"><set-variable name="x" value="1" /></limit-concurrency>
	</inbound><backend><limit-concurrency key="all" max-count="100"><forward-request /></limit-concurrency></backend></policies>`
	mustCompile(t, Chain{Global: mustParse(t, "good.xml", good)})
	for _, c := range []struct{ name, xml, want string }{
		{"per product api", `<rate-limit calls="1" renewal-period="1"><api name="a" calls="1" renewal-period="1" /></rate-limit>`, "limits per product API or operation"},
		{"bandwidth", `<quota-by-key calls="1" bandwidth="10" renewal-period="1" counter-key="k" />`, "bandwidth is not supported"},
		{"no key", `<rate-limit-by-key calls="1" renewal-period="1" />`, `needs the attribute "counter-key"`},
		{"no calls", `<rate-limit renewal-period="1" />`, `needs the attribute "calls"`},
		{"zero period", `<rate-limit calls="1" renewal-period="0" />`, "is not an integer from 1"},
		{"bad header", `<rate-limit calls="1" renewal-period="1" total-calls-header-name="a b" />`, "is not a header name"},
		{"bad start", `<quota-by-key calls="1" renewal-period="1" counter-key="k" first-period-start="monday" />`, "is not a date"},
		{"unknown attribute", `<rate-limit calls="1" renewal-period="1" counter-key="k" />`, `unknown attribute "counter-key"`},
		{"concurrency key", `<limit-concurrency max-count="1" />`, `needs the attribute "key"`},
	} {
		_, err := Parse(Source{File: "bad.xml", Line: 1, Text: []byte("<policies><inbound>" + c.xml + "</inbound></policies>")}, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := Parse(Source{File: "bad.xml", Line: 1, Text: []byte(`<policies><outbound><rate-limit calls="1" renewal-period="1" /></outbound></policies>`)}, nil); err == nil ||
		!strings.Contains(err.Error(), "<rate-limit> is not allowed in <outbound>") {
		t.Errorf("rate-limit in outbound: %v", err)
	}
}

// A rate limit's window slides: the previous window's calls weigh as much as it still overlaps the last
// renewal period; a quota's window is fixed and aligned to first-period-start.
func TestLimitWindows(t *testing.T) {
	sec := int64(time.Second)
	rate := &limitStmt{kind: limitRate}
	c := &counter{}
	rate.windowed(c, 100*sec, 10*sec)
	c.cur = 8
	if used, left := rate.windowed(c, 105*sec, 10*sec); used != 8 || left != 5*sec {
		t.Errorf("same window: %d used, %v left", used, time.Duration(left))
	}
	if used, _ := rate.windowed(c, 112*sec, 10*sec); used != 8*8/10 { // 8 of the last window, 80% still inside
		t.Errorf("next window: %d used, want 6", used)
	}
	if used, _ := rate.windowed(c, 140*sec, 10*sec); used != 0 {
		t.Errorf("long after: %d used", used)
	}
	quota := &limitStmt{kind: limitQuotaByKey, firstPeriodStart: time.Unix(95, 0)}
	q := &counter{}
	quota.windowed(q, 100*sec, 10*sec)
	q.cur = 3
	if used, left := quota.windowed(q, 104*sec, 10*sec); used != 3 || left != sec {
		t.Errorf("quota: %d used, %v left; want 3 and 1s (periods start at 95, 105, ...)", used, time.Duration(left))
	}
	if used, _ := quota.windowed(q, 105*sec, 10*sec); used != 0 {
		t.Errorf("quota after renewal: %d used", used)
	}
	for d, want := range map[time.Duration]string{59 * time.Second: "00:00:59", 90 * time.Minute: "01:30:00", 50 * time.Hour: "2.02:00:00"} {
		if got := timeSpan(d); got != want {
			t.Errorf("timeSpan(%v) = %s, want %s", d, got, want)
		}
	}
}
