import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "dev.elirmobile.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.elirmobile.demo"
        minSdk = 28
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk { abiFilters += "arm64-v8a" }
        buildConfigField("String", "EXECUTORCH_VERSION", "\"${libs.versions.executorch.get()}\"")
        buildConfigField("String", "LITERT_VERSION", "\"${libs.versions.litert.get()}\"")
    }

    // One ExecuTorch AAR per build: the default (XNNPACK) one, or the Vulkan / QNN builds of it.
    flavorDimensions += "executorch"
    productFlavors {
        create("xnnpack") { dimension = "executorch"; isDefault = true }
        create("vulkan") { dimension = "executorch"; applicationIdSuffix = ".vulkan" }
        create("qnn") { dimension = "executorch"; applicationIdSuffix = ".qnn" }
    }

    buildTypes {
        release {
            isMinifyEnabled = false
            // Benchmarks want a release build that is still installable without a keystore.
            signingConfig = signingConfigs.getByName("debug")
        }
    }
    buildFeatures { buildConfig = true }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    packaging {
        // Both runtimes ship the NDK's C++ runtime.  Native libraries stay uncompressed on disk (legacy
        // packaging): QNN's DSP loader and LiteRT's NPU dispatch read them from nativeLibraryDir.
        jniLibs { pickFirsts += "**/libc++_shared.so"; useLegacyPackaging = true }
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    implementation(project(":core"))
    "xnnpackImplementation"(libs.executorch.android)
    "vulkanImplementation"(libs.executorch.android.vulkan)
    "qnnImplementation"(libs.executorch.android.qnn)
    implementation(libs.litert)
    implementation(libs.mediapipe.tasks.vision)
    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.ktx)
    implementation(libs.androidx.lifecycle.runtime.ktx)
    implementation(libs.kotlinx.coroutines.android)
}

// The face landmarker model is Google's download, not part of this repository: fail the build early, saying how to
// get it, rather than ship an app whose whole-photo restore fails at run time (README, "Face model").
tasks.named("preBuild") {
    val model = file("src/main/assets/face_landmarker.task")
    doFirst {
        check(model.isFile) {
            "${model.path} is missing. The whole-photo face restore needs MediaPipe's face landmarker model:\n" +
                "  curl -L --create-dirs -o app/src/main/assets/face_landmarker.task " +
                "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task"
        }
    }
}
