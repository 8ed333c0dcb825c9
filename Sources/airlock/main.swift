import AirlockCLI

await Airlock.runMain()
