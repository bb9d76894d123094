package fakesf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// swagger is a validator over the definitions of the official SF REST swagger (testdata/servicefabric.json, the
// 8.2 spec). It handles $ref, type, properties, required, enum, items, allOf, additionalProperties and the
// discriminator (dispatch to the definition whose x-ms-discriminator-value matches). It is strict about unknown
// properties, so a misspelt field name fails; the documented swagger-vs-wire discrepancies are listed in
// wireExtras instead of switching the strictness off.
type swagger struct {
	defs  map[string]map[string]any
	paths map[string]map[string]any
}

// wireExtras are properties SF's runtime sends that the swagger does not describe (docs/servicefabric.md §5).
// They are still validated, against the schema given here.
var wireExtras = map[string]map[string]map[string]any{
	"StatefulServicePartitionInfo": {
		// The runtime serialises the quorum-loss duration as LastQuorumLossDurationInSeconds, an int64 string; the
		// swagger's LastQuorumLossDuration (ISO duration) never appears on the wire.
		"LastQuorumLossDurationInSeconds": {"type": "string", "pattern": "int64"},
		// Below api-version 6.4 the runtime names PrimaryEpoch CurrentConfigurationEpoch (the 6.4 rename is why
		// GetPartitions is pinned to 6.4).
		"CurrentConfigurationEpoch": {"$ref": "#/definitions/Epoch"},
	},
}

var (
	swaggerOnce sync.Once
	swaggerDoc  *swagger
	swaggerErr  error
)

func loadSwagger(t testing.TB) *swagger {
	t.Helper()
	swaggerOnce.Do(func() {
		data, err := os.ReadFile("testdata/servicefabric.json")
		if err != nil {
			swaggerErr = err
			return
		}
		var doc struct {
			Definitions map[string]map[string]any `json:"definitions"`
			Paths       map[string]map[string]any `json:"paths"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			swaggerErr = err
			return
		}
		swaggerDoc = &swagger{defs: doc.Definitions, paths: doc.Paths}
	})
	if swaggerErr != nil {
		t.Fatalf("load swagger: %v", swaggerErr)
	}
	return swaggerDoc
}

// responseDef is the definition name the swagger gives for method+path template and status ("" = no body).
func (s *swagger) responseDef(method, tmpl string, status int) (string, error) {
	op, ok := s.paths[tmpl][strings.ToLower(method)].(map[string]any)
	if !ok {
		return "", fmt.Errorf("swagger has no %s %s", method, tmpl)
	}
	responses := op["responses"].(map[string]any)
	r, ok := responses[fmt.Sprint(status)].(map[string]any)
	if !ok {
		if status < 400 {
			return "", fmt.Errorf("swagger lists no %d response for %s %s", status, method, tmpl)
		}
		r = responses["default"].(map[string]any)
	}
	schema, ok := r["schema"].(map[string]any)
	if !ok {
		return "", nil
	}
	return strings.TrimPrefix(schema["$ref"].(string), "#/definitions/"), nil
}

// validate checks a JSON document against a named definition.
func (s *swagger) validate(def string, body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON document")
	}
	return s.check(def, map[string]any{"$ref": "#/definitions/" + def}, v)
}

func (s *swagger) def(ref string) (string, map[string]any, error) {
	name := strings.TrimPrefix(ref, "#/definitions/")
	d, ok := s.defs[name]
	if !ok {
		return "", nil, fmt.Errorf("unknown definition %s", ref)
	}
	return name, d, nil
}

// flatten merges a definition with its allOf chain: properties, required, discriminator (nearest wins).
func (s *swagger) flatten(name string, d map[string]any) (props map[string]any, required []string, disc string, err error) {
	props = map[string]any{}
	for _, parent := range asSlice(d["allOf"]) {
		pm := parent.(map[string]any)
		var pp map[string]any
		var pr []string
		var pd string
		if ref, ok := pm["$ref"].(string); ok {
			pn, pdef, err := s.def(ref)
			if err != nil {
				return nil, nil, "", err
			}
			pp, pr, pd, err = s.flatten(pn, pdef)
			if err != nil {
				return nil, nil, "", err
			}
		} else {
			pp, pr, pd, err = s.flatten(name, pm)
			if err != nil {
				return nil, nil, "", err
			}
		}
		for k, v := range pp {
			props[k] = v
		}
		required = append(required, pr...)
		if pd != "" {
			disc = pd
		}
	}
	for k, v := range asMap(d["properties"]) {
		props[k] = v
	}
	for _, r := range asSlice(d["required"]) {
		required = append(required, r.(string))
	}
	if dd, ok := d["discriminator"].(string); ok {
		disc = dd
	}
	for k, v := range wireExtras[name] {
		props[k] = v
	}
	return props, required, disc, nil
}

// derives reports whether definition name has base in its allOf chain.
func (s *swagger) derives(name, base string) bool {
	if name == base {
		return true
	}
	for _, parent := range asSlice(s.defs[name]["allOf"]) {
		if ref, ok := parent.(map[string]any)["$ref"].(string); ok {
			if s.derives(strings.TrimPrefix(ref, "#/definitions/"), base) {
				return true
			}
		}
	}
	return false
}

func (s *swagger) check(at string, schema map[string]any, v any) error {
	if ref, ok := schema["$ref"].(string); ok {
		name, d, err := s.def(ref)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		return s.checkDef(at, name, d, v)
	}
	return s.checkDef(at, "", schema, v)
}

func (s *swagger) checkDef(at, name string, d map[string]any, v any) error {
	if v == nil {
		return fmt.Errorf("%s: null where %s is expected", at, orAnon(name))
	}
	props, required, disc, err := s.flatten(name, d)
	if err != nil {
		return err
	}
	if disc != "" && name != "" {
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %s must be an object", at, name)
		}
		dv, ok := obj[disc].(string)
		if !ok {
			return fmt.Errorf("%s: discriminator %s missing or not a string", at, disc)
		}
		if own, _ := d["x-ms-discriminator-value"].(string); own != dv {
			target := ""
			for cand, cd := range s.defs {
				if cdv, _ := cd["x-ms-discriminator-value"].(string); cdv == dv && cand != name && s.derives(cand, name) {
					target = cand
					break
				}
			}
			if target == "" {
				return fmt.Errorf("%s: %s %q names no definition derived from %s", at, disc, dv, name)
			}
			return s.checkDef(at, target, s.defs[target], v)
		}
	}
	typ, _ := d["type"].(string)
	if typ == "" && (len(props) > 0 || d["additionalProperties"] != nil) {
		typ = "object"
	}
	switch typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object (%s), got %T", at, orAnon(name), v)
		}
		for _, r := range required {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: required property %s missing (%s)", at, r, orAnon(name))
			}
		}
		additional, _ := d["additionalProperties"].(map[string]any)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if additional == nil {
					return fmt.Errorf("%s: property %s is not in %s", at, k, orAnon(name))
				}
				ps = additional
			}
			if err := s.check(at+"."+k, ps, obj[k]); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array (%s), got %T", at, orAnon(name), v)
		}
		items, _ := d["items"].(map[string]any)
		for i, item := range arr {
			if items == nil {
				continue
			}
			if err := s.check(fmt.Sprintf("%s[%d]", at, i), items, item); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a string (%s), got %T %v", at, orAnon(name), v, v)
		}
		if enum := asSlice(d["enum"]); len(enum) > 0 && !slices.Contains(enum, any(str)) {
			return fmt.Errorf("%s: %q is not one of the %d values of %s", at, str, len(enum), orAnon(name))
		}
		if d["pattern"] == "int64" {
			var n int64
			if _, err := fmt.Sscan(str, &n); err != nil || fmt.Sprint(n) != str {
				return fmt.Errorf("%s: %q is not an int64 string", at, str)
			}
		}
	case "integer":
		num, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: want an integer (%s), got %T %v", at, orAnon(name), v, v)
		}
		if _, err := num.Int64(); err != nil {
			return fmt.Errorf("%s: %s is not an integer", at, num)
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			return fmt.Errorf("%s: want a number, got %T", at, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, got %T %v", at, v, v)
		}
	case "":
		// an unconstrained schema
	default:
		return fmt.Errorf("%s: validator does not know type %q", at, typ)
	}
	return nil
}

func orAnon(name string) string {
	if name == "" {
		return "inline schema"
	}
	return name
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// TestSwaggerValidatorRejects proves the validator can fail: each broken body must be rejected.
func TestSwaggerValidatorRejects(t *testing.T) {
	sw := loadSwagger(t)
	good := `{"Name":"fabric:\/Shop\/Orders","PartitionInformation":{"ServicePartitionKind":"Int64Range","Id":"8f0c2d7a-5b1e-4c3f-9a6d-2e4b7c1d9f00","LowKey":"0","HighKey":"255"},"Endpoints":[{"Kind":"StatefulPrimary","Address":""}],"Version":"v"}`
	if err := sw.validate("ResolvedServicePartition", []byte(good)); err != nil {
		t.Fatalf("good body rejected: %v", err)
	}
	goodReplicas := `{"ContinuationToken":"","Items":[{"ServiceKind":"Stateful","ReplicaId":"1","ReplicaRole":"Primary","ReplicaStatus":"Ready","HealthState":"Ok","Address":"","NodeName":"n","LastInBuildDurationInSeconds":"0"}]}`
	if err := sw.validate("PagedReplicaInfoList", []byte(goodReplicas)); err != nil {
		t.Fatalf("good replica list rejected: %v", err)
	}
	for _, tc := range []struct{ name, def, body string }{
		{"enum typo", "ResolvedServicePartition", strings.Replace(good, "StatefulPrimary", "StatefulPrimry", 1)},
		{"missing required", "ResolvedServicePartition", strings.Replace(good, `,"Version":"v"`, "", 1)},
		{"unknown discriminator", "ResolvedServicePartition", strings.Replace(good, `"Int64Range"`, `"Int64Ranges"`, 1)},
		{"derived field of another kind", "ResolvedServicePartition", strings.Replace(good, `"HighKey":"255"`, `"HighKey":"255","Name":"x"`, 1)},
		{"unknown property", "ResolvedServicePartition", strings.Replace(good, `"Version"`, `"Versoin":"v","Version"`, 1)},
		{"int64 as number", "PagedReplicaInfoList", strings.Replace(goodReplicas, `"ReplicaId":"1"`, `"ReplicaId":1`, 1)},
		{"missing discriminator", "PagedReplicaInfoList", strings.Replace(goodReplicas, `"ServiceKind":"Stateful",`, "", 1)},
		{"string where integer", "PagedServicePartitionInfoList", `{"Items":[{"ServiceKind":"Stateless","InstanceCount":"3"}]}`},
		{"wire extra still typed", "PagedServicePartitionInfoList", `{"Items":[{"ServiceKind":"Stateful","LastQuorumLossDurationInSeconds":"1.5"}]}`},
		{"wire extra only where documented", "PagedServicePartitionInfoList", `{"Items":[{"ServiceKind":"Stateless","LastQuorumLossDurationInSeconds":"0"}]}`},
		{"error code not in enum", "FabricError", `{"Error":{"Code":"FABRIC_E_NOPE","Message":"m"}}`},
		{"boolean as string", "PagedServiceInfoList", `{"Items":[{"ServiceKind":"Stateful","HasPersistedState":"true"}]}`},
	} {
		if err := sw.validate(tc.def, []byte(tc.body)); err == nil {
			t.Errorf("%s: validator accepted %s", tc.name, tc.body)
		} else {
			t.Logf("%s: rejected as expected: %v", tc.name, err)
		}
	}
}
