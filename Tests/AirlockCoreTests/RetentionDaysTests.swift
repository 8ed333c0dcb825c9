import AirlockCore
import Testing

/// The retention window's bounds, the one rule the API's PATCH, the Settings page and the OpenAPI
/// document all use (`DeploymentSettings.setRetentionDays`).
@Suite struct RetentionDaysTests {
    @Test func acceptsTheRangeAndRefusesOutsideItUnchanged() throws {
        var settings = DeploymentSettings()
        #expect(settings.retentionDays == DeploymentSettings.defaultRetentionDays)
        for days in [1, 30, 36_500] {
            try settings.setRetentionDays(days)
            #expect(settings.retentionDays == days)
        }
        for days in [0, -1, 36_501, Int.max] {
            #expect(throws: AirlockError.usage("The retention window is from 1 to 36500 days (got \(days))")) {
                try settings.setRetentionDays(days)
            }
            #expect(settings.retentionDays == 36_500, "a refusal leaves the window as it was")
        }
    }
}
