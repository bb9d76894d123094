package policy

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Revocation of client certificates (validate-client-certificate validate-revocation="true", APIM's default):
// each certificate of the verified chain but the CA is looked up in the certificate revocation lists (CRLs) its
// CRL distribution points name over http(s). A CRL is fetched on first use (the request waits for it), checked
// against the signature of the certificate's issuer, and valid until its NextUpdate (crlMaxAge when it names
// none). It is fetched again in the background once it is crlRefreshEvery old (CAs publish the next list before
// the current one ends), requests meanwhile answered from it; a CRL past its NextUpdate that could not be fetched
// again no longer vouches for anything. A certificate whose CRL cannot be had (no distribution point, none
// reachable, none signed by its issuer) has an unknown revocation status, which refuses it as Windows' online
// check does under APIM. A failed fetch is not tried again for fetchRetryAfter (fetchfailure.go). One cache serves the whole process (processCRLs), keyed by URL, so
// a reload keeps the lists it has.
const (
	crlMaxAge       = 24 * time.Hour
	crlRefreshEvery = time.Hour
	crlFetchTimeout = 10 * time.Second
	maxCRLBytes     = 32 << 20
)

// processCRLs is the CRL cache of every validate-client-certificate statement, across reloads.
var processCRLs = newCRLCache()

var (
	errRevoked             = errors.New("the certificate is revoked")
	errRevocationUnknown   = errors.New("the certificate's revocation status is unknown")
	errNoDistributionPoint = errors.New("it names no http(s) CRL distribution point")
)

// crlCache holds the CRLs of one validate-client-certificate statement, by distribution point URL.
type crlCache struct {
	client *http.Client
	now    func() time.Time

	mu    sync.Mutex
	byURL map[string]*crlEntry

	refreshed func() // tests: called after each background refresh
}

func newCRLCache() *crlCache {
	return &crlCache{client: &http.Client{Timeout: crlFetchTimeout}, now: time.Now, byURL: map[string]*crlEntry{}}
}

// crlEntry is one distribution point's list: the last good one, and the last failed fetch.
type crlEntry struct {
	mu         sync.Mutex // held during a first fetch: concurrent requests wait for it
	list       *revocationList
	lastFail   lastFailure
	refreshing bool // a background fetch runs
}

// revocationList is a parsed CRL: its revoked serial numbers, its validity and the issuer it was verified with.
type revocationList struct {
	crl        *x509.RevocationList
	revoked    map[string]struct{} // serial numbers (appendSerialKey)
	expires    time.Time           // NextUpdate, or the fetch time plus crlMaxAge
	refreshAt  time.Time           // when to fetch the next list in the background (no later than expires)
	verifiedBy []byte              // the raw issuer certificate whose key checked the signature
}

// checkChain checks every certificate of chain (the certificate first, the CA last) but the CA: nil when none is
// revoked and the status of each is known; errRevoked or errRevocationUnknown (wrapped with the cause) otherwise.
func (cc *crlCache) checkChain(ctx context.Context, chain []*x509.Certificate) error {
	switch len(chain) {
	case 0:
		return fmt.Errorf("%w: no verified chain to its issuer", errRevocationUnknown)
	case 1: // the certificate is itself a trust anchor of tls.clientCaFile (a pinned self-signed one): no issuer's list
		return nil
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := cc.check(ctx, chain[i], chain[i+1]); err != nil {
			return fmt.Errorf("certificate %q (serial %s): %w", chain[i].Subject.CommonName, chain[i].SerialNumber.Text(16), err)
		}
	}
	return nil
}

// check looks cert up in the first CRL of its distribution points that can be had and is signed by issuer.
func (cc *crlCache) check(ctx context.Context, cert, issuer *x509.Certificate) error {
	last := errNoDistributionPoint
	for _, u := range cert.CRLDistributionPoints {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			continue // ldap: and the like are not fetched
		}
		list, err := cc.list(ctx, u, issuer)
		if err != nil {
			last = err
			continue
		}
		var buf [maxSerialBytes + 1]byte
		if _, revoked := list.revoked[string(appendSerialKey(buf[:0], cert.SerialNumber))]; revoked {
			return errRevoked
		}
		return nil
	}
	return fmt.Errorf("%w: %w", errRevocationUnknown, last)
}

// list returns the valid CRL at u, signed by issuer: the cached one, or one fetched now.
func (cc *crlCache) list(ctx context.Context, u string, issuer *x509.Certificate) (*revocationList, error) {
	cc.mu.Lock()
	e := cc.byURL[u]
	if e == nil {
		e = &crlEntry{}
		cc.byURL[u] = e
	}
	cc.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	now := cc.now()
	if e.list != nil && !now.After(e.list.expires) && now.After(e.list.refreshAt) && !e.refreshing &&
		e.lastFail.recent(now) == nil {
		e.refreshing = true
		go cc.refresh(e, u)
	}
	if e.list == nil || now.After(e.list.expires) {
		if err := e.lastFail.recent(now); err != nil {
			return nil, err
		}
		list, err := cc.fetch(ctx, u, now)
		if err != nil {
			e.lastFail = lastFailure{at: now, err: fmt.Errorf("CRL %s: %w", u, err)}
			return nil, e.lastFail.err
		}
		e.list, e.lastFail = list, lastFailure{}
	}
	if !bytes.Equal(e.list.verifiedBy, issuer.Raw) {
		if err := e.list.crl.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("CRL %s is not signed by the certificate's issuer %q: %w", u, issuer.Subject.CommonName, err)
		}
		e.list.verifiedBy = issuer.Raw
	}
	return e.list, nil
}

// refresh fetches the next list at u in the background; the current one serves until it has.
func (cc *crlCache) refresh(e *crlEntry, u string) {
	list, err := cc.fetch(context.Background(), u, cc.now())
	e.mu.Lock()
	if err != nil {
		e.lastFail = lastFailure{at: cc.now(), err: fmt.Errorf("CRL %s: %w", u, err)}
	} else {
		e.list, e.lastFail = list, lastFailure{}
	}
	e.refreshing = false
	e.mu.Unlock()
	if cc.refreshed != nil {
		cc.refreshed()
	}
}

func (cc *crlCache) fetch(ctx context.Context, u string, now time.Time) (*revocationList, error) {
	ctx, cancel := context.WithTimeout(ctx, crlFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cc.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCRLBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxCRLBytes {
		return nil, fmt.Errorf("larger than %d MiB", maxCRLBytes>>20)
	}
	return parseCRL(body, now)
}

// parseCRL reads a CRL in DER or PEM ("X509 CRL") form. It fails when the list is past its NextUpdate already.
func parseCRL(data []byte, now time.Time) (*revocationList, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("a PEM %q block, not an X509 CRL", block.Type)
		}
		data = block.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, fmt.Errorf("not a CRL: %w", err)
	}
	l := &revocationList{crl: crl, revoked: make(map[string]struct{}, len(crl.RevokedCertificateEntries)), expires: crl.NextUpdate}
	if crl.NextUpdate.IsZero() {
		l.expires = now.Add(crlMaxAge)
	} else if now.After(crl.NextUpdate) {
		return nil, fmt.Errorf("its NextUpdate (%s) has passed", crl.NextUpdate.UTC().Format(time.RFC3339))
	}
	l.refreshAt = now.Add(crlRefreshEvery)
	if l.refreshAt.After(l.expires) {
		l.refreshAt = l.expires
	}
	for _, r := range crl.RevokedCertificateEntries {
		if r.SerialNumber != nil {
			l.revoked[string(appendSerialKey(nil, r.SerialNumber))] = struct{}{}
		}
	}
	return l, nil
}

// appendSerialKey appends how revocationList.revoked spells a serial number: '-' when it is negative, then its
// magnitude's big-endian bytes. Into a buffer of maxSerialBytes+1 it allocates nothing for a serial of up to
// maxSerialBytes bytes (RFC 5280 allows 20), so a check of a cached list allocates nothing.
func appendSerialKey(b []byte, n *big.Int) []byte {
	if n.Sign() < 0 {
		b = append(b, '-')
	}
	start := len(b)
	b = append(b, make([]byte, (n.BitLen()+7)/8)...)
	n.FillBytes(b[start:])
	return b
}

// maxSerialBytes is the longest serial number appendSerialKey spells in a caller's stack buffer.
const maxSerialBytes = 32
