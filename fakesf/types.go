package fakesf

import (
	"encoding/xml"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Application and service types: the types the topology registers (declared under applicationTypes, or built
// from the applications' services) answer GET /ApplicationTypes, their service types and manifests. The manifests
// are generated: one service manifest "<ServiceType minus Type>Pkg" per service type, with one endpoint per
// listener.

type applicationTypeInfoJSON struct {
	Name                          string          `json:"Name"`
	Version                       string          `json:"Version"`
	DefaultParameterList          []parameterJSON `json:"DefaultParameterList"`
	Status                        string          `json:"Status"`
	StatusDetails                 string          `json:"StatusDetails"`
	ApplicationTypeDefinitionKind string          `json:"ApplicationTypeDefinitionKind"`
}

func sortedParams(m map[string]string) []parameterJSON {
	out := []parameterJSON{}
	for k, v := range m {
		out = append(out, parameterJSON{Key: k, Value: v})
	}
	slices.SortFunc(out, func(x, y parameterJSON) int { return strings.Compare(x.Key, y.Key) })
	return out
}

func typeInfo(at ApplicationType, excludeParams bool) applicationTypeInfoJSON {
	info := applicationTypeInfoJSON{Name: at.Name, Version: at.Version, DefaultParameterList: sortedParams(at.Parameters),
		Status: "Available", ApplicationTypeDefinitionKind: "ServiceFabricApplicationPackage"}
	if excludeParams {
		info.DefaultParameterList = []parameterJSON{}
	}
	return info
}

func typeKey(at ApplicationType) string { return at.Name + "\x00" + at.Version }

// getApplicationTypes serves GET /ApplicationTypes and GET /ApplicationTypes/{name} (optionally one
// ApplicationTypeVersion), paged by name and version.
func (c *Cluster) getApplicationTypes(q *request) result {
	token, max, err := q.paging(true)
	if err != nil {
		return fail(err)
	}
	exclude, err := q.boolParam("ExcludeApplicationParameters")
	if err != nil {
		return fail(err)
	}
	if raw, given := q.query["ApplicationTypeDefinitionKindFilter"]; given {
		if n, perr := strconv.Atoi(raw); perr != nil || n < 0 || n > 65535 {
			return fail(invalidArg("ApplicationTypeDefinitionKindFilter %q must be 0 (Default), 1 (ServiceFabricApplicationPackage), 2 (Compose) or 65535 (All)", raw))
		} else if n != 0 && n != 65535 && n&1 == 0 {
			return ok(pagedList[applicationTypeInfoJSON]{Items: []applicationTypeInfoJSON{}}) // only Compose types: none here
		}
	}
	name, byName := "", false
	if _, ok := q.vars["type"]; ok {
		name, byName = q.single("type"), true
	}
	version, byVersion := q.query["ApplicationTypeVersion"]
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []ApplicationType
	for _, at := range c.appTypes {
		if (!byName || at.Name == name) && (!byVersion || at.Version == version) {
			all = append(all, at)
		}
	}
	return ok(pagedInfo(all, typeKey, token, max, func(at ApplicationType) applicationTypeInfoJSON { return typeInfo(at, exclude) }))
}

// appTypeByQuery finds the {type} application type in the required ApplicationTypeVersion. Caller holds mu.
func (c *Cluster) appTypeByQuery(q *request) (ApplicationType, *FabricError) {
	name := q.single("type")
	version, ok := q.query["ApplicationTypeVersion"]
	if !ok {
		return ApplicationType{}, invalidArg("ApplicationTypeVersion is required")
	}
	return c.appType(name, version)
}

// appType finds a registered application type. Caller holds mu.
func (c *Cluster) appType(name, version string) (ApplicationType, *FabricError) {
	for _, at := range c.appTypes {
		if at.Name == name && at.Version == version {
			return at, nil
		}
	}
	return ApplicationType{}, fabricErr(http.StatusNotFound, "FABRIC_E_APPLICATION_TYPE_NOT_FOUND", "Application type %s version %s is not provisioned.", name, version)
}

func manifestName(st ServiceType) string { return strings.TrimSuffix(st.Name, "Type") + "Pkg" }

type serviceTypeInfoJSON struct {
	ServiceTypeDescription map[string]any `json:"ServiceTypeDescription"`
	ServiceManifestName    string         `json:"ServiceManifestName"`
	ServiceManifestVersion string         `json:"ServiceManifestVersion"`
	IsServiceGroup         bool           `json:"IsServiceGroup"`
}

// extensionJSON is a ServiceTypeExtensionDescription: the extension's name and its content as XML.
type extensionJSON struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

func serviceTypeInfo(at ApplicationType, st ServiceType) serviceTypeInfoJSON {
	exts := []extensionJSON{}
	for _, x := range renderExtensions(st.Extensions) {
		b, _ := xml.Marshal(x.Labels) // the structs always marshal
		exts = append(exts, extensionJSON{Key: x.Name, Value: string(b)})
	}
	desc := map[string]any{"Kind": st.Kind, "IsStateful": st.Kind == Stateful, "ServiceTypeName": st.Name, "PlacementConstraints": "",
		"LoadMetrics": []any{}, "ServicePlacementPolicies": []any{}, "Extensions": exts}
	if st.Kind == Stateful {
		desc["HasPersistedState"] = st.HasPersistedState
	} else {
		desc["UseImplicitHost"] = false
	}
	return serviceTypeInfoJSON{ServiceTypeDescription: desc, ServiceManifestName: manifestName(st), ServiceManifestVersion: at.Version}
}

func (c *Cluster) getServiceTypes(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, err := c.appTypeByQuery(q)
	if err != nil {
		return fail(err)
	}
	out := make([]serviceTypeInfoJSON, 0, len(at.ServiceTypes))
	for _, st := range at.ServiceTypes {
		out = append(out, serviceTypeInfo(at, st))
	}
	return ok(out)
}

func (c *Cluster) getServiceType(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, err := c.appTypeByQuery(q)
	if err != nil {
		return fail(err)
	}
	name := q.single("stype")
	for _, st := range at.ServiceTypes {
		if st.Name == name {
			return ok(serviceTypeInfo(at, st))
		}
	}
	return empty(http.StatusNoContent)
}

// Manifests, generated in SF's XML schema.

type xmlParameter struct {
	Name         string `xml:"Name,attr"`
	DefaultValue string `xml:"DefaultValue,attr"`
}

type applicationManifestXML struct {
	XMLName                xml.Name         `xml:"ApplicationManifest"`
	Xmlns                  string           `xml:"xmlns,attr"`
	ApplicationTypeName    string           `xml:"ApplicationTypeName,attr"`
	ApplicationTypeVersion string           `xml:"ApplicationTypeVersion,attr"`
	Parameters             []xmlParameter   `xml:"Parameters>Parameter"`
	ServiceManifestRefs    []manifestRefXML `xml:"ServiceManifestImport>ServiceManifestRef"`
}

type manifestRefXML struct {
	Name    string `xml:"ServiceManifestName,attr"`
	Version string `xml:"ServiceManifestVersion,attr"`
}

type endpointXML struct {
	Name     string `xml:"Name,attr"`
	Protocol string `xml:"Protocol,attr"`
}

type serviceTypeXML struct {
	XMLName           xml.Name
	ServiceTypeName   string         `xml:"ServiceTypeName,attr"`
	HasPersistedState string         `xml:"HasPersistedState,attr,omitempty"`
	Extensions        *extensionsXML `xml:"Extensions"` // nil: no <Extensions> element
}

type extensionsXML struct {
	Extension []extensionXML `xml:"Extension"`
}

// extensionXML is one <Extension> of a service type: its labels in SF's label schema, as service-fabric-yarp
// and Traefik read them.
type extensionXML struct {
	Name   string    `xml:"Name,attr"`
	Labels labelsXML `xml:"Labels"`
}

type labelsXML struct {
	Xmlns  string     `xml:"xmlns,attr"`
	Labels []labelXML `xml:"Label"`
}

type labelXML struct {
	Key   string `xml:"Key,attr"`
	Value string `xml:",chardata"`
}

// labelsNS is the namespace of <Labels> in an extension.
const labelsNS = "http://schemas.microsoft.com/2015/03/fabact-no-schema"

// extensionsXML renders a service type's extensions, by name and label key.
func renderExtensions(e map[string]map[string]string) []extensionXML {
	var out []extensionXML
	for _, name := range slices.Sorted(maps.Keys(e)) {
		x := extensionXML{Name: name, Labels: labelsXML{Xmlns: labelsNS}}
		for _, k := range slices.Sorted(maps.Keys(e[name])) {
			x.Labels.Labels = append(x.Labels.Labels, labelXML{Key: k, Value: e[name][k]})
		}
		out = append(out, x)
	}
	return out
}

type serviceManifestXML struct {
	XMLName      xml.Name         `xml:"ServiceManifest"`
	Xmlns        string           `xml:"xmlns,attr"`
	Name         string           `xml:"Name,attr"`
	Version      string           `xml:"Version,attr"`
	ServiceTypes []serviceTypeXML `xml:"ServiceTypes>ServiceType"`
	CodePackage  struct {
		Name    string `xml:"Name,attr"`
		Version string `xml:"Version,attr"`
		Program string `xml:"EntryPoint>ExeHost>Program"`
	} `xml:"CodePackage"`
	Endpoints []endpointXML `xml:"Resources>Endpoints>Endpoint"`
}

const manifestNS = "http://schemas.microsoft.com/2011/01/fabric"

func marshalManifest(v any) string {
	b, _ := xml.MarshalIndent(v, "", "  ") // the structs always marshal
	return xml.Header + string(b)
}

func (c *Cluster) getApplicationManifest(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, err := c.appTypeByQuery(q)
	if err != nil {
		return fail(err)
	}
	m := applicationManifestXML{Xmlns: manifestNS, ApplicationTypeName: at.Name, ApplicationTypeVersion: at.Version}
	for _, p := range sortedParams(at.Parameters) {
		m.Parameters = append(m.Parameters, xmlParameter{Name: p.Key, DefaultValue: p.Value})
	}
	for _, st := range at.ServiceTypes {
		m.ServiceManifestRefs = append(m.ServiceManifestRefs, manifestRefXML{Name: manifestName(st), Version: at.Version})
	}
	return ok(map[string]string{"Manifest": marshalManifest(m)})
}

func (c *Cluster) getServiceManifest(q *request) result {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, err := c.appTypeByQuery(q)
	if err != nil {
		return fail(err)
	}
	name := q.query["ServiceManifestName"]
	i := slices.IndexFunc(at.ServiceTypes, func(st ServiceType) bool { return manifestName(st) == name })
	if i < 0 {
		return fail(fabricErr(http.StatusNotFound, "FABRIC_E_SERVICE_MANIFEST_NOT_FOUND", "Service manifest %q is not part of %s %s.", name, at.Name, at.Version))
	}
	st := at.ServiceTypes[i]
	m := serviceManifestXML{Xmlns: manifestNS, Name: name, Version: at.Version}
	t := serviceTypeXML{XMLName: xml.Name{Local: st.Kind + "ServiceType"}, ServiceTypeName: st.Name}
	if len(st.Extensions) > 0 {
		t.Extensions = &extensionsXML{Extension: renderExtensions(st.Extensions)}
	}
	if st.Kind == Stateful {
		t.HasPersistedState = strconv.FormatBool(st.HasPersistedState)
	}
	m.ServiceTypes = []serviceTypeXML{t}
	m.CodePackage.Name, m.CodePackage.Version, m.CodePackage.Program = "Code", at.Version, strings.TrimSuffix(st.Name, "Type")+".exe"
	for _, l := range st.Listeners {
		ep := endpointXML{Name: l + "Endpoint", Protocol: "http"}
		if l == "" {
			ep.Name = "ServiceEndpoint"
		}
		m.Endpoints = append(m.Endpoints, ep)
	}
	return ok(map[string]string{"Manifest": marshalManifest(m)})
}
