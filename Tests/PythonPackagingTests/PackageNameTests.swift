import Foundation
import Testing
import PythonPackaging

@Suite struct PackageNameTests {
    @Test(arguments: [
        ("Foo.Bar__baz", "foo-bar-baz"),
        ("requests", "requests"),
        ("Django", "django"),
        ("apache_airflow", "apache-airflow"),
        ("apache-airflow-providers-Amazon", "apache-airflow-providers-amazon"),
        ("a-_.-b", "a-b"),
        ("zope.interface", "zope-interface"),
        ("_leading", "-leading"),
    ])
    func normalisation(raw: String, expected: String) {
        #expect(normalizePackageName(raw) == expected)
        #expect(PackageName(raw).normalized == expected)
        #expect(PackageName(raw).description == expected)
        #expect(PackageName(raw).raw == raw)
    }

    @Test func equalityHashingAndOrderUseTheNormalisedName() throws {
        let a = PackageName("Foo_Bar")
        let b = PackageName("foo.bar")
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(Set([a, b]).count == 1)
        #expect(PackageName("Zope") > PackageName("apache-airflow"))
        #expect([PackageName("b"), PackageName("A"), PackageName("c")].sorted().map(\.raw) == ["A", "b", "c"])
        let data = try JSONEncoder().encode(a)
        #expect(String(decoding: data, as: UTF8.self) == #""Foo_Bar""#)
        #expect(try JSONDecoder().decode(PackageName.self, from: data).raw == "Foo_Bar")
    }
}
