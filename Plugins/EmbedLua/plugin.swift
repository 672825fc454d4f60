import PackagePlugin

/// Embeds a target's `.lua` files as Swift string constants (`LuaSource.<name>`,
/// the file name in lower camel case), so the Lua lives in `.lua` files beside
/// the store that uses it, yet ships inside the binary: no resource bundle to
/// copy into an image, nothing read from disk at run time.
@main
struct EmbedLua: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        let inputs = module.sourceFiles(withSuffix: ".lua").map(\.url).sorted { $0.path < $1.path }
        guard !inputs.isEmpty else { return [] }
        let output = context.pluginWorkDirectoryURL.appending(path: "LuaSource.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(inputs.count) Lua scripts of \(target.name)",
                executable: try context.tool(named: "herald-embed-lua").url,
                arguments: [output.path] + inputs.map(\.path),
                inputFiles: inputs,
                outputFiles: [output])
        ]
    }
}
