package expr

// Type is the static (load-time) type of an expression.
type Type uint8

// Static types. TypeAny is only used as the wanted type of [Compile].
const (
	TypeAny Type = iota
	TypeNull
	TypeBool
	TypeInt
	TypeLong
	TypeChar
	TypeString
	TypeStrings
	TypeObject
	TypeContext
	TypeRequest
	TypeURL
	TypeQuery // IReadOnlyDictionary<string, string[]> of query parameters
	TypeHeaders
	TypeParams // IReadOnlyDictionary<string, string> of matched parameters
	TypeVariables
	TypeResponse
	TypeLastError
	TypeAPI
	TypeOperation
	TypeDateTime
	TypeGuid
	TypeStringComparison
	TypeStringSplitOptions
	TypeCertificate // X509Certificate2 (context.Request.Certificate)
	TypeBytes       // byte[] (Encoding.UTF8.GetBytes, ComputeHash)
	TypeHash        // HashAlgorithm (MD5.Create(), SHA256.Create())
	TypeJwt         // Jwt (AsJwt()); the value is the token's text
	TypeJwtClaims   // Jwt.Claims, IReadOnlyDictionary<string, string[]>; the value is the token's text
	TypeBasic       // BasicAuthCredentials (AsBasic()); the value is the decoded "user:password"
)

var typeNames = [...]string{
	TypeAny: "any", TypeNull: "null", TypeBool: "bool", TypeInt: "int", TypeLong: "long", TypeChar: "char",
	TypeString: "string", TypeStrings: "string[]", TypeObject: "object", TypeContext: "IProxyRequestContext",
	TypeRequest: "IRequest", TypeURL: "IUrl", TypeQuery: "IReadOnlyDictionary<string, string[]>",
	TypeHeaders: "IReadOnlyDictionary<string, string[]>", TypeParams: "IReadOnlyDictionary<string, string>",
	TypeVariables: "IReadOnlyDictionary<string, object>", TypeResponse: "IResponse", TypeLastError: "ILastError",
	TypeAPI: "IApi", TypeOperation: "IOperation", TypeDateTime: "DateTime", TypeGuid: "Guid",
	TypeStringComparison: "StringComparison", TypeStringSplitOptions: "StringSplitOptions",
	TypeCertificate: "X509Certificate2", TypeBytes: "byte[]", TypeHash: "HashAlgorithm",
	TypeJwt: "Jwt", TypeJwtClaims: "IReadOnlyDictionary<string, string[]>", TypeBasic: "BasicAuthCredentials",
}

// String returns the C# name of the type.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type?"
}

// isNumeric reports int, long and char (which C# promotes to int in arithmetic).
func (t Type) isNumeric() bool { return t == TypeInt || t == TypeLong || t == TypeChar }

// isReference reports types whose values may be null.
func (t Type) isReference() bool {
	switch t {
	case TypeString, TypeStrings, TypeObject, TypeNull, TypeResponse, TypeLastError, TypeURL,
		TypeQuery, TypeHeaders, TypeParams, TypeVariables, TypeRequest, TypeContext, TypeAPI, TypeOperation, TypeCertificate,
		TypeBytes, TypeHash, TypeJwt, TypeJwtClaims, TypeBasic:
		return true
	}
	return false
}

// parseTypeName maps a C# type name (keyword, CLR name, System.-qualified) to a Type.
func parseTypeName(name string) (Type, bool) {
	switch canonicalClass(name) {
	case "string", "String":
		return TypeString, true
	case "Jwt":
		return TypeJwt, true
	case "int", "Int32":
		return TypeInt, true
	case "long", "Int64":
		return TypeLong, true
	case "bool", "Boolean":
		return TypeBool, true
	case "char", "Char":
		return TypeChar, true
	case "object", "Object":
		return TypeObject, true
	case "string[]", "String[]":
		return TypeStrings, true
	case "byte[]", "Byte[]":
		return TypeBytes, true
	case "MD5", "SHA256", "HashAlgorithm":
		return TypeHash, true
	}
	return 0, false
}

// kindOf is the runtime kind a static type has when its value is not null.
func kindOf(t Type) Kind {
	switch t {
	case TypeBool:
		return Bool
	case TypeInt, TypeStringComparison, TypeStringSplitOptions:
		return Int
	case TypeLong:
		return Long
	case TypeChar:
		return Char
	case TypeString, TypeGuid, TypeJwt, TypeJwtClaims, TypeBasic:
		return String
	case TypeStrings:
		return Strings
	case TypeBytes:
		return Bytes
	case TypeDateTime:
		return Long
	}
	return Object
}

// Object identities carried in Value.I for Kind Object.
const (
	objContext int64 = iota + 1
	objRequest
	objURL
	objOriginalURL
	objServiceURL
	objQuery
	objOriginalQuery
	objServiceQuery
	objRequestHeaders
	objResponseHeaders
	objParams
	objVariables
	objResponse
	objLastError
	objAPI
	objOperation
	objCertificate
	objMD5
	objSHA256
)

func objectTypeName(id int64) string {
	switch id {
	case objContext:
		return "IProxyRequestContext"
	case objRequest:
		return "IRequest"
	case objURL, objOriginalURL, objServiceURL:
		return "IUrl"
	case objQuery, objOriginalQuery, objServiceQuery, objRequestHeaders, objResponseHeaders, objParams, objVariables:
		return "System.Collections.Generic.Dictionary"
	case objResponse:
		return "IResponse"
	case objLastError:
		return "ILastError"
	case objAPI:
		return "IApi"
	case objOperation:
		return "IOperation"
	case objCertificate:
		return "X509Certificate2"
	case objMD5:
		return "System.Security.Cryptography.MD5+Implementation"
	case objSHA256:
		return "System.Security.Cryptography.SHA256+Implementation"
	}
	return "object"
}
