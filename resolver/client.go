package resolver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/cenkalti/backoff/v4"

	"github.com/sfgate/sfgate/partition"
)

// API versions pinned per operation (docs/servicefabric.md §1): they work on every cluster ≥ 6.4.
const (
	resolveAPIVersion       = "6.0"
	getPartitionsAPIVersion = "6.4"
)

// maxBody caps a naming answer; anything larger is a broken or hostile gateway.
const maxBody = 8 << 20

// requestIDHeader is SF's correlation header; the resolver sets a fresh UUID per attempt.
const requestIDHeader = "X-ServiceFabricRequestId"

// NamingCall describes one HTTP attempt against a management endpoint. Options.OnNamingCall receives one per
// attempt (failovers included), after the answer (or the failure) is known.
type NamingCall struct {
	Op        string        // "ResolvePartition", "GetPartitions", or a listing: "GetApplicationInfoList", "GetServiceInfoList"
	Endpoint  string        // management endpoint base URL
	RequestID string        // X-ServiceFabricRequestId sent
	Status    int           // HTTP status; 0 when no answer arrived
	Duration  time.Duration // time until the answer (or the failure)
	Err       error         // nil on a 2xx answer
}

// namingClient talks to the SF HTTP management API of one cluster through an azcore pipeline. It owns
// failover across the management endpoints; azcore's own retry policy is off.
type namingClient struct {
	endpoints   []string // base URLs without a trailing slash
	pipeline    runtime.Pipeline
	callTimeout time.Duration
	maxAttempts int
	backoff     func() backoff.BackOff
	current     atomic.Int32 // index of the endpoint that answered last; the next call starts there
	onCall      func(NamingCall)
	stats       *counters
}

// resolvePartition calls ResolvePartition for the partition that holds key. prev, when not empty, is sent
// verbatim as PreviousRspVersion (a complaint that the result with that version did not work).
func (c *namingClient) resolvePartition(ctx context.Context, serviceID string, key partition.Key, prev string) (*Snapshot, error) {
	var q strings.Builder
	q.WriteString("api-version=" + resolveAPIVersion)
	switch key.Kind {
	case partition.Int64Range:
		q.WriteString("&PartitionKeyType=2&PartitionKeyValue=")
		q.WriteString(strconv.FormatInt(key.Int, 10))
	case partition.Named:
		if err := checkRawQueryValue("partition name", key.Name); err != nil {
			return nil, err
		}
		q.WriteString("&PartitionKeyType=3&PartitionKeyValue=")
		q.WriteString(key.Name)
	}
	if prev != "" {
		if err := checkRawQueryValue("PreviousRspVersion", prev); err != nil {
			return nil, err
		}
		q.WriteString("&PreviousRspVersion=")
		q.WriteString(prev)
	}
	q.WriteString(c.timeoutParam())
	body, err := c.get(ctx, "ResolvePartition", "/Services/"+serviceID+"/$/ResolvePartition", q.String())
	if err != nil {
		return nil, err
	}
	return decodeResolved(body)
}

// getPartitions lists every partition of a service, following ContinuationToken (sent verbatim).
func (c *namingClient) getPartitions(ctx context.Context, serviceID string) ([]partition.Info, error) {
	var all []partition.Info
	err := c.pages(ctx, "GetPartitions", "/Services/"+serviceID+"/$/GetPartitions", getPartitionsAPIVersion, func(body []byte) (string, error) {
		infos, next, err := decodePartitionPage(body)
		all = append(all, infos...)
		return next, err
	})
	if err != nil {
		return nil, err
	}
	return all, nil
}

// maxPages bounds GetPartitions paging against a gateway that never ends a listing.
const maxPages = 10000

func (c *namingClient) timeoutParam() string {
	secs := int64((c.callTimeout + time.Second - 1) / time.Second)
	return "&timeout=" + strconv.FormatInt(secs, 10)
}

// checkRawQueryValue rejects values that cannot travel verbatim in a query string: the SF gateway does not
// percent-decode values, so they cannot be escaped either (docs/servicefabric.md §1).
func checkRawQueryValue(what, v string) error {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c <= ' ' || c == 0x7f || c == '#' || c == '&' || c == '=':
			return fmt.Errorf("%s %q contains %q at byte %d, which the SF REST API cannot carry in a query", what, v, c, i)
		}
	}
	return nil
}

// get performs one logical GET with failover: connection failures, client-side timeouts (an endpoint that
// has not answered within callTimeout) and 5xx answers move to the next management endpoint after a
// jittered exponential backoff, up to maxAttempts attempts or until ctx ends (the lookup's ResolveTimeout).
// The endpoint that answers becomes the first one tried by the next call.
func (c *namingClient) get(ctx context.Context, op, path, query string) ([]byte, error) {
	n := len(c.endpoints)
	first := int(c.current.Load())
	bo := c.backoff()
	var lastErr error
	attempt := 0
	for ; attempt < c.maxAttempts; attempt++ {
		if attempt > 0 {
			wait := bo.NextBackOff()
			if wait == backoff.Stop {
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, stopped(ctx, op, attempt, lastErr)
			case <-t.C:
			}
		}
		idx := (first + attempt) % n
		body, err := c.attempt(ctx, idx, op, path, query)
		if err == nil {
			c.current.Store(int32(idx))
			return body, nil
		}
		if ctx.Err() != nil {
			return nil, stopped(ctx, op, attempt+1, err)
		}
		var fe *FabricError
		if errors.As(err, &fe) {
			c.current.Store(int32(idx)) // it answered: it is alive
			if !fe.transient() {
				return nil, err
			}
		} else if !retryable(err) {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("%w: %s failed on %d management endpoint(s) after %d attempt(s): %w",
		ErrUnavailable, op, n, attempt, lastErr)
}

// stopped is the error of an operation whose context ended after attempts attempts.
func stopped(ctx context.Context, op string, attempts int, last error) error {
	return fmt.Errorf("%s: %w after %d attempt(s); last error: %w", op, ctx.Err(), attempts, last)
}

// retryable reports whether a transport-level error may go away on another endpoint.
func retryable(err error) bool {
	var ce *CertificateError
	var cred *credentialError
	return !errors.As(err, &ce) && !errors.As(err, &cred)
}

// attempt sends one GET to one endpoint and returns the body of a 2xx answer.
func (c *namingClient) attempt(ctx context.Context, idx int, op, path, query string) (body []byte, err error) {
	endpoint := c.endpoints[idx]
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	req, err := runtime.NewRequest(ctx, http.MethodGet, endpoint+path)
	if err != nil {
		return nil, fmt.Errorf("%s: build request for %s: %w", op, endpoint, err)
	}
	req.Raw().URL.RawQuery = query // verbatim: never re-encoded (docs/servicefabric.md §1)
	req.Raw().Header.Set("Accept", "application/json")
	requestID, err := runtime.NewUUID()
	if err != nil {
		return nil, fmt.Errorf("%s: request id: %w", op, err)
	}
	req.Raw().Header.Set(requestIDHeader, requestID)
	runtime.SkipBodyDownload(req)

	start := time.Now()
	status := 0
	defer func() {
		d := time.Since(start)
		c.stats.observeNaming(status, err, d)
		if c.onCall != nil {
			c.onCall(NamingCall{Op: op, Endpoint: endpoint, RequestID: requestID, Status: status, Duration: d, Err: err})
		}
	}()

	resp, err := c.pipeline.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, op, endpoint, err)
	}
	defer resp.Body.Close()
	status = resp.StatusCode
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, c.transportError(ctx, op, endpoint, fmt.Errorf("read answer: %w", err))
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("%s on %s: answer larger than %d bytes", op, endpoint, maxBody)
	}
	if status < 200 || status > 299 {
		return nil, decodeError(status, body, endpoint)
	}
	return body, nil
}

func (c *namingClient) transportError(ctx context.Context, op, endpoint string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &timeoutError{op: op, endpoint: endpoint, err: err}
	}
	var ve *tls.CertificateVerificationError // standard validation: no thumbprints or names configured
	if errors.As(err, &ve) {
		var leaf *x509.Certificate
		if len(ve.UnverifiedCertificates) > 0 {
			leaf = ve.UnverifiedCertificates[0]
		}
		reason := "not trusted by the CAs the gateway uses (serverCaFile, or the system's): " + ve.Err.Error()
		return fmt.Errorf("%s on %s: %w", op, endpoint, certificateError(leaf, reason))
	}
	return fmt.Errorf("%s on %s: %w", op, endpoint, err)
}

// newBackoff returns the failover backoff: jittered exponential from 50 ms, capped at 2 s per wait.
func newBackoff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 50 * time.Millisecond
	b.MaxInterval = 2 * time.Second
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	b.MaxElapsedTime = 0 // bounded by maxAttempts and the caller's context
	b.Reset()
	return b
}

// newPipeline builds the azcore pipeline: no azcore retries (failover is ours), the bearer policy when Azure
// AD is configured, and the given transport.
func newPipeline(transport policy.Transporter, perRetry []policy.Policy) runtime.Pipeline {
	return runtime.NewPipeline("sfgate/resolver", "v1", runtime.PipelineOptions{
		AllowedHeaders:         []string{requestIDHeader},
		AllowedQueryParameters: []string{"api-version", "PartitionKeyType", "PartitionKeyValue", "timeout", "ApplicationTypeVersion", "ServiceManifestName"},
	}, &policy.ClientOptions{
		Transport:        transport,
		Retry:            policy.RetryOptions{MaxRetries: -1},
		Telemetry:        policy.TelemetryOptions{ApplicationID: "sfgate"},
		PerRetryPolicies: perRetry,
	})
}
