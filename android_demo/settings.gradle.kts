pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "elir-demo"
// core: the app's plain logic (tiling, noise, statistics, parity, card, record, quantization), pure Kotlin/JVM.
include(":app", ":core")
