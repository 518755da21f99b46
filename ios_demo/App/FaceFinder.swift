import CoreGraphics
import ELIRKit
import Vision

/// Vision's face landmarks on a whole photo: `VNDetectFaceLandmarksRequest` finds every face and its landmark
/// regions, and ELIRKit turns each into its five alignment points (`FacePhoto.fromVision`: eye contour centres,
/// the nose tip from `noseCrest`, the mouth corners from `outerLips`, converted from the face box's normalized,
/// bottom-left-origin coordinates to the photo's pixels).  Synchronous: call it off the main actor.
enum FaceFinder {
    static func faces(in photo: CGImage) throws -> [Face] {
        let request = VNDetectFaceLandmarksRequest()
        // The photo is decoded upright (ImageIO.decodeCapped applies the EXIF orientation).
        try VNImageRequestHandler(cgImage: photo, orientation: .up, options: [:]).perform([request])
        return (request.results ?? []).compactMap { (observation: VNFaceObservation) -> Face? in
            guard let marks = observation.landmarks, let leftEye = marks.leftEye, let rightEye = marks.rightEye,
                  let noseCrest = marks.noseCrest, let outerLips = marks.outerLips, let all = marks.allPoints else {
                return nil  // a face without the regions the template needs cannot be aligned
            }
            let b = observation.boundingBox
            let box = FacePhoto.NormalizedBox(x: Double(b.origin.x), y: Double(b.origin.y),
                                              width: Double(b.size.width), height: Double(b.size.height))
            return FacePhoto.fromVision(box: box, leftEye: points(leftEye), rightEye: points(rightEye),
                                        noseCrest: points(noseCrest), outerLips: points(outerLips),
                                        allPoints: points(all), width: photo.width, height: photo.height)
        }
    }

    /// A region's points, normalized to the face's bounding box (Vision's `normalizedPoints`).
    static func points(_ region: VNFaceLandmarkRegion2D) -> [(Double, Double)] {
        region.normalizedPoints.map { (Double($0.x), Double($0.y)) }
    }
}
