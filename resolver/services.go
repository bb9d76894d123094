package resolver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// API versions of the listing calls (docs/servicefabric.md §1).
const (
	getApplicationsAPIVersion = "6.1"
	getServicesAPIVersion     = "6.0"
	getServiceTypesAPIVersion = "6.0"
	getManifestAPIVersion     = "6.0"
)

// ServiceInfo is one service the cluster lists (GetServices), as the reverse proxy's discovery reads it.
type ServiceInfo struct {
	Name        string // fabric:/App/Svc
	Application string // fabric:/App
	// AppTypeName and AppTypeVersion are the application's type: where the service type's manifest is
	// (ServiceTypes, ServiceManifest).
	AppTypeName, AppTypeVersion string
	TypeName                    string // the service type
	Kind                        string // "Stateful" or "Stateless" (ServiceKind)
}

// ListServices lists every service of every application: GET /Applications, then
// /Applications/{id}/$/GetServices for each, following ContinuationToken on both. Each call has the
// resolver's failover and callTimeout; ctx bounds the whole listing.
func (r *Resolver) ListServices(ctx context.Context) ([]ServiceInfo, error) {
	c := r.client
	var apps []appRef
	err := c.pages(ctx, "GetApplicationInfoList", "/Applications", getApplicationsAPIVersion, func(body []byte) (string, error) {
		page, next, err := decodeApplicationPage(body)
		apps = append(apps, page...)
		return next, err
	})
	if err != nil {
		return nil, err
	}
	var out []ServiceInfo
	for _, a := range apps {
		path := "/Applications/" + url.PathEscape(a.id) + "/$/GetServices"
		err := c.pages(ctx, "GetServiceInfoList", path, getServicesAPIVersion, func(body []byte) (string, error) {
			infos, next, err := decodeServicePage(body, a)
			out = append(out, infos...)
			return next, err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// appRef is one application of GET /Applications: its ID (the path form), name and type.
type appRef struct {
	id, name, typeName, typeVersion string
}

type wireApplicationPage struct {
	ContinuationToken string
	Items             []struct {
		ID          string `json:"Id"`
		Name        string
		TypeName    string
		TypeVersion string
	}
}

type wireServicePage struct {
	ContinuationToken string
	Items             []struct {
		Name        string
		TypeName    string
		ServiceKind string
	}
}

// decodeApplicationPage reads one page of GET /Applications: each application's ID, name and type.
func decodeApplicationPage(body []byte) ([]appRef, string, error) {
	var w wireApplicationPage
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, "", fmt.Errorf("decode PagedApplicationInfoList: %w", err)
	}
	out := make([]appRef, 0, len(w.Items))
	for i, a := range w.Items {
		if a.ID == "" || !strings.HasPrefix(a.Name, "fabric:/") {
			return nil, "", fmt.Errorf("decode PagedApplicationInfoList: Items[%d] has no Id or no fabric:/ Name", i)
		}
		out = append(out, appRef{id: a.ID, name: a.Name, typeName: a.TypeName, typeVersion: a.TypeVersion})
	}
	return out, w.ContinuationToken, nil
}

// decodeServicePage reads one page of GetServices for application app.
func decodeServicePage(body []byte, app appRef) ([]ServiceInfo, string, error) {
	var w wireServicePage
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, "", fmt.Errorf("decode PagedServiceInfoList: %w", err)
	}
	out := make([]ServiceInfo, 0, len(w.Items))
	for i, s := range w.Items {
		if !strings.HasPrefix(s.Name, "fabric:/") || (s.ServiceKind != "Stateful" && s.ServiceKind != "Stateless") {
			return nil, "", fmt.Errorf("decode PagedServiceInfoList: Items[%d]: name %q, kind %q (want fabric:/..., Stateful or Stateless)", i, s.Name, s.ServiceKind)
		}
		out = append(out, ServiceInfo{Name: s.Name, Application: app.name, AppTypeName: app.typeName, AppTypeVersion: app.typeVersion,
			TypeName: s.TypeName, Kind: s.ServiceKind})
	}
	return out, w.ContinuationToken, nil
}

// pages GETs a paged list, passing each page's body to page, which returns the page's ContinuationToken;
// the token is sent back verbatim until it is empty.
func (c *namingClient) pages(ctx context.Context, op, path, apiVersion string, page func(body []byte) (string, error)) error {
	token := ""
	for n := 0; ; n++ {
		if n >= maxPages {
			return fmt.Errorf("%s: more than %d pages; the ContinuationToken never ended", op, maxPages)
		}
		query := "api-version=" + apiVersion + c.timeoutParam()
		if token != "" {
			if err := checkRawQueryValue("ContinuationToken", token); err != nil {
				return err
			}
			query += "&ContinuationToken=" + token
		}
		body, err := c.get(ctx, op, path, query)
		if err != nil {
			return err
		}
		next, err := page(body)
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if next == token {
			return fmt.Errorf("%s: the gateway returned the same ContinuationToken %q twice", op, next)
		}
		token = next
	}
}
