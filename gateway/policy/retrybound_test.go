package policy

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sfgate/sfgate/gateway/expr"
)

// nestedRetries is three levels of <retry count="50" interval="0"> around forward-request, as in the report that
// found 132,651 forwards for one request.
var nestedRetries = doc(`<inbound><base /></inbound>`, `<backend>
  <retry condition="@(true)" count="50" interval="0">
    <retry condition="@(true)" count="50" interval="0">
      <retry condition="@(true)" count="50" interval="0">
        <forward-request />
      </retry>
    </retry>
  </retry>
</backend>`)

// limitedForwarder fails every call with a connection error, and past limit with an error wrapping
// ErrAttemptLimit, as the gateway's Forwarder does at limits.maxAttemptsPerRequest.
type limitedForwarder struct {
	fakeForwarder
	limit   int
	refused int // calls past the limit
}

func (f *limitedForwarder) Forward(ctx context.Context, c *expr.Context, r *Result, timeout time.Duration) error {
	if f.calls >= f.limit {
		f.refused++
		return fmt.Errorf("over the limit: %w", ErrAttemptLimit)
	}
	f.outcomes = append(f.outcomes, connErr{})
	return f.fakeForwarder.Forward(ctx, c, r, timeout)
}

func TestNestedRetryStopsAtTheAttemptLimit(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "api.xml", nestedRetries)})
	c := request(t, "POST", "http://gw/api/x")
	var r Result
	f := &limitedForwarder{limit: 10}
	err := p.Backend(t.Context(), c, &r, f)
	if !errors.Is(err, ErrAttemptLimit) {
		t.Errorf("Backend = %v, want ErrAttemptLimit", err)
	}
	if f.calls != 10 {
		t.Errorf("%d forwards, want the limit of 10", f.calls)
	}
	if f.refused != 1 {
		t.Errorf("%d calls past the limit, want 1 (the retries stop at the first refusal)", f.refused)
	}
}

func TestZeroIntervalRetryStopsWhenTheContextEnds(t *testing.T) {
	p := mustCompile(t, Chain{API: mustParse(t, "api.xml", nestedRetries)})
	c := request(t, "POST", "http://gw/api/x")
	var r Result
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	f := &fakeForwarder{outcomes: []error{connErr{}, connErr{}, connErr{}, connErr{}}}
	err := p.Backend(ctx, c, &r, f)
	if f.calls != 1 {
		t.Errorf("%d forwards with an ended context, want 1 (the body runs once, no retry)", f.calls)
	}
	if err == nil {
		t.Error("Backend returned nil with every forward failing")
	}
}

func TestWaitReportsAnEndedContextEvenForZero(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	if err := Wait(ctx, 0); err != nil {
		t.Errorf("Wait(live, 0) = %v", err)
	}
	cancel()
	for _, d := range []time.Duration{0, -time.Second, time.Hour} {
		if err := Wait(ctx, d); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait(cancelled, %v) = %v, want context.Canceled", d, err)
		}
	}
}
