// The app's plain logic as a JVM library: no Android imports, so it compiles and its tests run without the
// Android SDK (tests/test_kotlin_core.py does exactly that with the same sources).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.kotlin.jvm)
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    // Android ships org.json in the platform: compile against it, never package a second copy into the APK.
    compileOnly(libs.orgjson)
    testImplementation(libs.orgjson)
    testImplementation(libs.junit)
}

// The tests compare against values the Python reference computes; pytest passes their file, so does
// ./gradlew :core:test -PelirVectors=/path/to/vectors.json (see android_demo/README.md).
tasks.test {
    providers.gradleProperty("elirVectors").orNull?.let { systemProperty("elir.vectors", it) }
}
