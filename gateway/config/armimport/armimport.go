// Package armimport turns an ARM template exported from an Azure API Management instance (Bicep compiles to
// the same JSON) into an sfgate configuration: `sfgate import --arm` (docs/configuration.md, "Importing from
// API Management"). It sits beside package config, before the data flow of docs/design.md §1: it writes the
// YAML that config then loads. It carries over backends (single, pool, Service Fabric cluster, credentials,
// TLS, circuit breakers), named values, APIs with their operations, and the policies at global, API and
// operation scope; every value or resource it cannot carry over is a Warning with its JSON path.
package armimport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Result is an imported configuration.
type Result struct {
	// YAML is the configuration, ready for `sfgate validate`. Secret named values are {env: NAME} references.
	YAML []byte
	// ValidationYAML is YAML with a placeholder for every environment variable it introduced, so that the
	// configuration can be checked before those variables are set.
	ValidationYAML []byte
	// Warnings say what was not carried over, and why, each with its JSON path in the template.
	Warnings []string
}

// Import reads an ARM template and, optionally, a parameters file ({"parameters": {"name": {"value": ...}}}).
// An error means the input is not a template; everything short of that is a Warning.
func Import(template, parameters []byte) (*Result, error) {
	var tpl struct {
		Parameters map[string]struct {
			DefaultValue any `json:"defaultValue"`
		} `json:"parameters"`
		Variables map[string]any `json:"variables"`
		Resources []any          `json:"resources"`
	}
	if err := decodeJSON(template, &tpl); err != nil {
		return nil, fmt.Errorf("the ARM template is not JSON: %w", err)
	}
	if tpl.Resources == nil {
		return nil, fmt.Errorf("the ARM template has no resources array")
	}
	im := &importer{ev: &evaluator{params: map[string]any{}, variables: tpl.Variables, evaluating: map[string]bool{}},
		out: &outConfig{Backends: map[string]*outBackend{}, NamedValues: map[string]any{}}, apis: map[string]*outAPI{},
		placeholders: map[string]bool{}}
	for name, p := range tpl.Parameters {
		if p.DefaultValue != nil {
			im.ev.params[name] = p.DefaultValue
		}
	}
	if len(parameters) > 0 {
		var pf struct {
			Parameters map[string]struct {
				Value     any `json:"value"`
				Reference any `json:"reference"`
			} `json:"parameters"`
		}
		if err := decodeJSON(parameters, &pf); err != nil {
			return nil, fmt.Errorf("the parameters file is not JSON: %w", err)
		}
		for name, p := range pf.Parameters {
			if p.Reference != nil {
				im.warn("parameters."+name, "a Key Vault reference cannot be read by sfgate import; give the value instead")
				continue
			}
			im.ev.params[name] = p.Value
		}
	}
	// Policies of an API or operation may come before the API in the file: resources first, policies last.
	var policies []resource
	for _, r := range im.flatten(tpl.Resources, "$.resources", "", "") {
		if want, ok := nameSegments[r.kind]; ok && len(r.names) != want {
			im.warn(r.path+".name", fmt.Sprintf("%q is not a %s name (%d segments separated by /): left out", strings.Join(r.names, "/"), r.kind, want))
			continue
		}
		switch r.kind {
		case "Microsoft.ApiManagement/service/backends":
			im.backend(r)
		case "Microsoft.ApiManagement/service/namedValues", "Microsoft.ApiManagement/service/properties":
			im.namedValue(r)
		case "Microsoft.ApiManagement/service/apis":
			im.api(r)
		case "Microsoft.ApiManagement/service/apis/operations":
			im.operation(r)
		case "Microsoft.ApiManagement/service/policies", "Microsoft.ApiManagement/service/apis/policies",
			"Microsoft.ApiManagement/service/apis/operations/policies":
			policies = append(policies, r)
		case "Microsoft.ApiManagement/service":
			// the instance itself: nothing of it applies to a self-hosted gateway
		default:
			im.warn(r.path, "resource type "+r.kind+" is not carried over (sfgate has no such entity)")
		}
	}
	for _, r := range policies {
		im.policy(r)
	}
	return im.result()
}

// nameSegments is how many /-separated segments the name of each resource type carried over has (the
// service's name first).
var nameSegments = map[string]int{
	"Microsoft.ApiManagement/service/backends": 2, "Microsoft.ApiManagement/service/namedValues": 2,
	"Microsoft.ApiManagement/service/properties": 2, "Microsoft.ApiManagement/service/apis": 2,
	"Microsoft.ApiManagement/service/apis/operations": 3, "Microsoft.ApiManagement/service/policies": 2,
	"Microsoft.ApiManagement/service/apis/policies": 3, "Microsoft.ApiManagement/service/apis/operations/policies": 4,
}

func decodeJSON(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	return d.Decode(v)
}

// resource is one template resource with its type and name made absolute (nested resources) and evaluated.
type resource struct {
	path  string   // JSON path in the template
	kind  string   // full type
	names []string // name segments: service, then child names
	props map[string]any
}

type importer struct {
	ev           *evaluator
	out          *outConfig
	apis         map[string]*outAPI
	warnings     []string
	placeholders map[string]bool // environment variables the output reads
}

func (im *importer) warn(path, msg string) {
	im.warnings = append(im.warnings, path+": "+msg)
}

// flatten lists the resources, nested ones with their parent's type and name prefixed.
func (im *importer) flatten(list []any, path, parentKind, parentName string) []resource {
	var out []resource
	for i, raw := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		m, ok := raw.(map[string]any)
		if !ok {
			im.warn(p, "not an object")
			continue
		}
		kind, _ := m["type"].(string)
		name, err := im.ev.str(fmt.Sprint(m["name"]))
		if err != nil {
			im.warn(p+".name", "cannot be evaluated: "+err.Error())
			continue
		}
		fullKind, fullName := kind, fmt.Sprint(name)
		if parentKind != "" && !strings.Contains(kind, ".") {
			fullKind, fullName = parentKind+"/"+kind, parentName+"/"+fullName
		}
		props, _ := m["properties"].(map[string]any)
		out = append(out, resource{path: p, kind: fullKind, names: strings.Split(fullName, "/"), props: props})
		if children, ok := m["resources"].([]any); ok {
			out = append(out, im.flatten(children, p+".resources", fullKind, fullName)...)
		}
	}
	return out
}

// get evaluates the property at key of r (nil when absent or not evaluable, with a warning then).
func (im *importer) get(props map[string]any, path, key string) any {
	raw, ok := props[key]
	if !ok || raw == nil {
		return nil
	}
	v, err := im.ev.value(raw)
	if err != nil {
		im.warn(path+"."+key, "not carried over: "+err.Error())
		return nil
	}
	return v
}

func (im *importer) getString(props map[string]any, path, key string) string {
	v := im.get(props, path, key)
	if v == nil {
		return ""
	}
	return text(v)
}

func (im *importer) getInt(props map[string]any, path, key string) *int {
	v := im.get(props, path, key)
	if v == nil {
		return nil
	}
	var n int
	if _, err := fmt.Sscan(text(v), &n); err != nil {
		im.warn(path+"."+key, fmt.Sprintf("%v is not an integer", v))
		return nil
	}
	return &n
}

func (im *importer) getBool(props map[string]any, path, key string) *bool {
	v := im.get(props, path, key)
	if v == nil {
		return nil
	}
	b, ok := v.(bool)
	if !ok {
		im.warn(path+"."+key, fmt.Sprintf("%v is not true or false", v))
		return nil
	}
	return &b
}

func (im *importer) backend(r resource) {
	id := r.names[len(r.names)-1]
	path := r.path + ".properties"
	p := r.props
	b := &outBackend{URL: im.getString(p, path, "url"), Protocol: im.getString(p, path, "protocol"),
		Title: im.getString(p, path, "title"), Description: im.getString(p, path, "description")}
	if t := im.getString(p, path, "type"); strings.EqualFold(t, "Pool") {
		b.Type = "Pool"
		b.URL, b.Protocol = "", ""
		pool, _ := p["pool"].(map[string]any)
		services, _ := pool["services"].([]any)
		b.Pool = &outPool{}
		for i, raw := range services {
			sp := fmt.Sprintf("%s.pool.services[%d]", path, i)
			m, _ := raw.(map[string]any)
			memberID := im.getString(m, sp, "id")
			if memberID == "" {
				im.warn(sp+".id", "missing or not evaluable: the member is left out")
				continue
			}
			if i := strings.LastIndex(memberID, "/backends/"); i >= 0 {
				memberID = memberID[i+len("/backends/"):]
			}
			b.Pool.Services = append(b.Pool.Services, outMember{ID: memberID, Priority: im.getInt(m, sp, "priority"), Weight: im.getInt(m, sp, "weight")})
		}
	}
	if nested, ok := p["properties"].(map[string]any); ok {
		if sf, ok := nested["serviceFabricCluster"].(map[string]any); ok {
			b.ServiceFabricCluster = im.cluster(sf, path+".properties.serviceFabricCluster")
		}
	}
	if c, ok := p["credentials"].(map[string]any); ok {
		b.Credentials = im.credentials(c, path+".credentials")
	}
	if t, ok := p["tls"].(map[string]any); ok {
		b.TLS = &outTLS{ValidateCertificateChain: im.getBool(t, path+".tls", "validateCertificateChain"),
			ValidateCertificateName: im.getBool(t, path+".tls", "validateCertificateName")}
	}
	if cb, ok := p["circuitBreaker"].(map[string]any); ok {
		b.CircuitBreaker = im.circuitBreaker(cb, path+".circuitBreaker")
	}
	if _, ok := p["resourceId"]; ok {
		im.warn(path+".resourceId", "not carried over: not needed, the url names the backend")
	}
	if _, ok := p["proxy"]; ok {
		im.warn(path+".proxy", "not carried over: outbound HTTP proxies are not supported")
	}
	im.out.Backends[id] = b
}

func (im *importer) cluster(sf map[string]any, path string) *outCluster {
	c := &outCluster{MaxPartitionResolutionRetries: im.getInt(sf, path, "maxPartitionResolutionRetries")}
	if eps, ok := im.get(sf, path, "managementEndpoints").([]any); ok {
		for _, e := range eps {
			c.ManagementEndpoints = append(c.ManagementEndpoints, text(e))
		}
	}
	if tps, ok := im.get(sf, path, "serverCertificateThumbprints").([]any); ok {
		for _, tp := range tps {
			c.ServerCertificateThumbprints = append(c.ServerCertificateThumbprints, text(tp))
		}
	}
	if names, ok := im.get(sf, path, "serverX509Names").([]any); ok {
		for _, n := range names {
			m, _ := n.(map[string]any)
			c.ServerX509Names = append(c.ServerX509Names, outX509Name{Name: text(m["name"]), IssuerCertificateThumbprint: text(m["issuerCertificateThumbprint"])})
		}
	}
	for _, k := range []string{"clientCertificateId", "clientCertificatethumbprint"} {
		if _, ok := sf[k]; ok {
			im.warn(path+"."+k, "not carried over: a certificate store is not read; add clientCertificate: {certFile, keyFile} (PEM) to serviceFabricCluster")
		}
	}
	return c
}

func (im *importer) credentials(c map[string]any, path string) *outCredentials {
	out := &outCredentials{}
	for _, part := range []struct {
		key string
		dst *map[string][]string
	}{{"header", &out.Header}, {"query", &out.Query}} {
		if m, ok := im.get(c, path, part.key).(map[string]any); ok {
			*part.dst = map[string][]string{}
			for name, vals := range m {
				list, _ := vals.([]any)
				for _, v := range list {
					(*part.dst)[name] = append((*part.dst)[name], text(v))
				}
			}
		}
	}
	if a, ok := im.get(c, path, "authorization").(map[string]any); ok {
		out.Authorization = &outAuthorization{Scheme: text(a["scheme"]), Parameter: text(a["parameter"])}
	}
	for _, k := range []string{"certificate", "certificateIds"} {
		if _, ok := c[k]; ok {
			im.warn(path+"."+k, "not carried over: APIM certificates are not read; add credentials.clientCertificate: {certFile, keyFile} (PEM)")
		}
	}
	return out
}

// circuitBreaker carries the first rule over; error reasons other than BackendConnectionFailure and Timeout
// are left out (sfgate cannot tell them apart).
func (im *importer) circuitBreaker(cb map[string]any, path string) *outBreaker {
	rules, _ := cb["rules"].([]any)
	if len(rules) == 0 {
		im.warn(path, "no rules: the circuit breaker is left out")
		return nil
	}
	if len(rules) > 1 {
		im.warn(path+".rules", "only the first rule is carried over (sfgate, like APIM, takes one)")
	}
	rp := path + ".rules[0]"
	rule, _ := rules[0].(map[string]any)
	out := &outRule{Name: im.getString(rule, rp, "name"), TripDuration: im.getString(rule, rp, "tripDuration"),
		AcceptRetryAfter: im.getBool(rule, rp, "acceptRetryAfter")}
	fc, _ := rule["failureCondition"].(map[string]any)
	fp := rp + ".failureCondition"
	out.FailureCondition = outFailure{Count: im.getInt(fc, fp, "count"), Percentage: im.getInt(fc, fp, "percentage"),
		Interval: im.getString(fc, fp, "interval")}
	if ranges, ok := im.get(fc, fp, "statusCodeRanges").([]any); ok {
		for _, raw := range ranges {
			m, _ := raw.(map[string]any)
			var lo, hi int
			fmt.Sscan(text(m["min"]), &lo)
			fmt.Sscan(text(m["max"]), &hi)
			out.FailureCondition.StatusCodeRanges = append(out.FailureCondition.StatusCodeRanges, outRange{Min: lo, Max: hi})
		}
	}
	if reasons, ok := im.get(fc, fp, "errorReasons").([]any); ok {
		for i, raw := range reasons {
			switch s := text(raw); s {
			case "BackendConnectionFailure", "Timeout":
				out.FailureCondition.ErrorReasons = append(out.FailureCondition.ErrorReasons, s)
			default:
				im.warn(fmt.Sprintf("%s.errorReasons[%d]", fp, i), fmt.Sprintf("%q is left out: sfgate's error reasons are BackendConnectionFailure and Timeout", s))
			}
		}
	}
	if len(out.FailureCondition.StatusCodeRanges) == 0 && len(out.FailureCondition.ErrorReasons) == 0 {
		im.warn(fp, "nothing left that counts as a failure: the circuit breaker is left out")
		return nil
	}
	return &outBreaker{Rules: []*outRule{out}}
}

var envName = regexp.MustCompile(`[^A-Z0-9]+`)

func (im *importer) namedValue(r resource) {
	path := r.path + ".properties"
	p := r.props
	name := im.getString(p, path, "displayName")
	if name == "" {
		name = r.names[len(r.names)-1]
	}
	secret := im.getBool(p, path, "secret")
	_, inVault := p["keyVault"]
	if inVault || secret != nil && *secret {
		env := "SFGATE_NV_" + strings.Trim(envName.ReplaceAllString(strings.ToUpper(name), "_"), "_")
		im.out.NamedValues[name] = map[string]any{"env": env, "secret": true}
		im.placeholders[env] = true
		msg := fmt.Sprintf("a secret named value %q becomes {env: %s}: set that environment variable to its value", name, env)
		if inVault {
			vault, _ := p["keyVault"].(map[string]any)
			msg = fmt.Sprintf("a Key Vault named value %q becomes {env: %s}: set that environment variable to its value, or have sfgate read the vault: write {keyVault: {secretIdentifier: %q}} instead",
				name, env, im.getString(vault, path+".keyVault", "secretIdentifier"))
		}
		im.warn(path, msg)
		return
	}
	v := im.getString(p, path, "value")
	if v == "" {
		im.warn(path+".value", fmt.Sprintf("named value %q has no value in the template: left out", name))
		return
	}
	im.out.NamedValues[name] = v
}

func (im *importer) api(r resource) {
	id := r.names[len(r.names)-1]
	path := r.path + ".properties"
	if strings.Contains(id, ";rev=") {
		im.warn(r.path, "API revision "+id+" is not carried over (only the current revision is)")
		return
	}
	a := im.apiNamed(id)
	a.Path = im.getString(r.props, path, "path")
	a.ServiceURL = im.getString(r.props, path, "serviceUrl")
}

func (im *importer) apiNamed(id string) *outAPI {
	a := im.apis[id]
	if a == nil {
		a = &outAPI{Name: id}
		im.apis[id] = a
	}
	return a
}

func (im *importer) operation(r resource) {
	if len(r.names) < 3 {
		im.warn(r.path+".name", "an operation's name is service/api/operation")
		return
	}
	path := r.path + ".properties"
	tpl := im.getString(r.props, path, "urlTemplate")
	if q := strings.IndexByte(tpl, '?'); q >= 0 {
		im.warn(path+".urlTemplate", fmt.Sprintf("the query part %q is left out: operations match by method and path", tpl[q:]))
		tpl = tpl[:q]
	}
	a := im.apiNamed(r.names[len(r.names)-2])
	a.Operations = append(a.Operations, &outOperation{Name: r.names[len(r.names)-1], Method: im.getString(r.props, path, "method"), URLTemplate: tpl})
}

func (im *importer) policy(r resource) {
	path := r.path + ".properties"
	format := strings.ToLower(im.getString(r.props, path, "format"))
	if strings.HasSuffix(format, "link") {
		im.warn(path+".format", "a policy given by URL ("+format+") is not fetched: paste the XML into the configuration")
		return
	}
	xml := im.getString(r.props, path, "value")
	if xml == "" {
		im.warn(path+".value", "no policy XML: left out")
		return
	}
	switch r.kind {
	case "Microsoft.ApiManagement/service/policies":
		im.out.Policies = xml
	case "Microsoft.ApiManagement/service/apis/policies":
		im.apiNamed(r.names[1]).Policies = xml
	default:
		a := im.apiNamed(r.names[1])
		for _, op := range a.Operations {
			if op.Name == r.names[2] {
				op.Policies = xml
				return
			}
		}
		im.warn(r.path, "the policy's operation "+r.names[1]+"/"+r.names[2]+" is not in the template: left out")
	}
}

func (im *importer) result() (*Result, error) {
	ids := make([]string, 0, len(im.apis))
	for id := range im.apis {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		im.out.APIs = append(im.out.APIs, im.apis[id])
	}
	if len(im.out.NamedValues) == 0 {
		im.out.NamedValues = nil
	}
	if len(im.out.Backends) == 0 {
		im.out.Backends = nil
	}
	header := "# Imported from an API Management ARM template by sfgate import.\n"
	if len(im.placeholders) > 0 {
		header += "# Set these environment variables before running it:"
		for _, env := range sortedKeys(im.placeholders) {
			header += " " + env
		}
		header += "\n"
	}
	yml, err := yaml.Marshal(im.out)
	if err != nil {
		return nil, err
	}
	res := &Result{YAML: append([]byte(header), yml...), Warnings: im.warnings}
	for name, nv := range im.out.NamedValues {
		if m, ok := nv.(map[string]any); ok {
			im.out.NamedValues[name] = map[string]any{"value": "placeholder-of-" + fmt.Sprint(m["env"]), "secret": true}
		}
	}
	if res.ValidationYAML, err = yaml.Marshal(im.out); err != nil {
		return nil, err
	}
	return res, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
